/**
 * The faults a simulated device is under, for simulators that serve on a socket: every
 * fault is a flag the simulator consults, and 'unreachable' also takes the listener down,
 * until it is cleared and the simulator listens again on the same port.
 */
export class FaultSwitch<F extends string> {
  /** Faults in effect; the simulator checks them as it answers. */
  readonly active = new Set<F>();

  constructor(private readonly listener: { down(): Promise<void>; up(): Promise<void> }) {}

  async inject(fault: F): Promise<void> {
    this.active.add(fault);
    if (fault === 'unreachable') await this.listener.down();
  }

  /** Clear one fault, or all of them. */
  async clear(fault?: F): Promise<void> {
    const cleared = fault ? [fault] : [...this.active];
    for (const f of cleared) this.active.delete(f);
    if (cleared.includes('unreachable' as F)) await this.listener.up();
  }

  list(): F[] {
    return [...this.active];
  }
}
