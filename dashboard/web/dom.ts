// Small DOM helpers shared by the views.

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: Array<Node | string>
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

/** Write only when the text changed, so unchanged cells are not touched. */
export function setText(node: HTMLElement, text: string): void {
  if (node.textContent !== text) node.textContent = text;
}

/** Set or remove an attribute, touching the DOM only when it changes. */
export function setAttr(node: Element, name: string, value: string | null): void {
  if (value === null) {
    if (node.hasAttribute(name)) node.removeAttribute(name);
  } else if (node.getAttribute(name) !== value) {
    node.setAttribute(name, value);
  }
}

/**
 * replaceChildren, keeping the keyboard's place: when the focus was on a control inside
 * (a link, a button), it goes back to the new control with the same `data-testid` or
 * `data-device-link`. A live update must not throw a keyboard user back to the top of the page.
 */
export function replaceKeepingFocus(container: Element, children: ReadonlyArray<Node | string>): void {
  const active = document.activeElement;
  const selector = active !== null && active !== container && container.contains(active) ? focusSelector(active) : null;
  container.replaceChildren(...children);
  if (selector !== null) container.querySelector<HTMLElement>(selector)?.focus({ preventScroll: true });
}

function focusSelector(element: Element): string | null {
  for (const name of ['data-testid', 'data-device-link']) {
    const value = element.getAttribute(name);
    if (value) return `[${name}="${CSS.escape(value)}"]`;
  }
  return null;
}
