/**
 * Waiting in tests that drive real processes: for a condition the system exposes (an API
 * answer, a message seen), never for a guess of how long something takes.
 *
 * The deadline is a safety net that turns a hang into a message saying what never happened;
 * it is not a latency requirement, so it is long (a loaded 2-core CI machine can be ten
 * times slower than an idle one) and the same everywhere. How fast something happens is
 * measured by the benchmark scripts (docs/BENCHMARKS.md), not asserted here.
 */

/** How long a condition may take before the wait gives up and says what it waited for. */
export const SAFETY_DEADLINE_MS = 120_000;

/**
 * Polls `probe` until it returns something truthy and returns that. Errors thrown by the
 * probe (a server still starting) count as "not yet"; the last one is in the timeout message.
 */
export async function waitFor<T>(
  probe: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  what: string,
  options: { deadlineMs?: number; everyMs?: number } = {},
): Promise<T> {
  const deadlineMs = options.deadlineMs ?? SAFETY_DEADLINE_MS;
  const everyMs = options.everyMs ?? 200;
  const deadline = Date.now() + deadlineMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`gave up after ${deadlineMs} ms waiting for ${what}${last ? ` (last error: ${last})` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
