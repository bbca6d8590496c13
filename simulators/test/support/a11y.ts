/**
 * What a screen reader would meet without words: every control on screen (buttons, links,
 * fields, selects) must have an accessible name (its text, a label, aria-label or
 * aria-labelledby, a title), every image a text alternative, and every chart a labelled
 * `role="img"` box around its canvas. Returns a line per offender; [] when all is named.
 *
 * A simplified accessible-name computation (no CSS-generated content, no role-specific
 * rules): strict enough to catch an icon button or an input with no label, which is what
 * this is for.
 */
import type { Page } from 'playwright-core';

export async function unnamedOnScreen(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const shown = (e: Element) => {
      const box = e.getBoundingClientRect();
      const style = getComputedStyle(e);
      return box.width > 0 && box.height > 0 && style.visibility !== 'hidden' && style.display !== 'none';
    };
    const text = (e: Element | null | undefined) => (e instanceof HTMLElement ? e.innerText : (e?.textContent ?? '')).trim();
    const describe = (e: Element) => {
      const id = e.getAttribute('data-testid') ?? e.id;
      return `<${e.tagName.toLowerCase()}${id ? ` ${e.getAttribute('data-testid') ? 'data-testid' : 'id'}="${id}"` : ''}${e.className && typeof e.className === 'string' ? ` class="${e.className}"` : ''}>`;
    };
    const nameOf = (e: Element): string => {
      const aria = e.getAttribute('aria-label')?.trim();
      if (aria) return aria;
      const by = e.getAttribute('aria-labelledby');
      if (by) {
        const named = by.split(/\s+/).map((id) => text(document.getElementById(id))).join(' ').trim();
        if (named) return named;
      }
      if (e instanceof HTMLInputElement || e instanceof HTMLSelectElement || e instanceof HTMLTextAreaElement) {
        const labelled = [...(e.labels ?? [])].map((l) => text(l)).join(' ').trim();
        if (labelled) return labelled;
        if (e instanceof HTMLInputElement && ['button', 'submit', 'reset'].includes(e.type) && e.value.trim()) return e.value.trim();
        return e.title.trim();
      }
      return text(e) || (e.getAttribute('title') ?? '').trim();
    };
    const out: string[] = [];
    for (const e of document.querySelectorAll('button, a[href], input:not([type="hidden"]), select, textarea, [role="button"], [role="link"], summary')) {
      if (shown(e) && nameOf(e) === '') out.push(`${describe(e)} has no accessible name`);
    }
    for (const img of document.querySelectorAll('img')) {
      if (shown(img) && img.getAttribute('alt') === null && img.getAttribute('role') !== 'presentation') out.push(`${describe(img)} has no alt text`);
    }
    for (const canvas of document.querySelectorAll('canvas')) {
      if (!shown(canvas)) continue;
      const box = canvas.closest('[role="img"]');
      if (!box || nameOf(box) === '') out.push(`${describe(canvas)} is not inside a labelled role="img" box`);
    }
    return out;
  });
}
