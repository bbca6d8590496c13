/**
 * Regression test for the aedes crash of DESIGN.md section 8: flooding publishers and a
 * subscriber that all exit abruptly used to kill the broker process with
 * `RangeError: Maximum call stack size exceeded` (mqemitter drained its backlog by
 * recursion; see broker/patches/README.md).
 *
 * First the cause, deterministically: aedes' message routing (mqemitter, patched) works off
 * a queued backlog whose only listener has gone in a loop, however long the backlog. Then
 * the load of bench/abuse-load.ts, 3 runs in all, against a broker in a child process: the
 * process must still be running afterwards and serve a fresh client. The full 20-run loop
 * is `bench/abuse-repro.ts --runs 20`.
 *
 * Nothing here depends on how fast the machine is. The load runs carry at least a fixed
 * number of messages per phase (a slow machine makes a phase longer, not lighter), and
 * their deadlines are safety nets against a hang. Whether the unpatched code would crash
 * under the load runs does depend on speed (the backlog grows with the flood), which is why
 * the first test reproduces the cause directly: unpatched, it fails every time.
 */
import { Aedes } from 'aedes';
import { describe, expect, it } from 'vitest';
import { runAbuse, type AbuseOptions, type RunResult } from '../bench/abuse-load.ts';
import { SAFETY_DEADLINE_MS } from '../../simulators/test/support/wait.ts';

/**
 * The reproducer's 5 s phases: the backlog that overflowed the stack grows with the
 * phase (about 1 000 queued messages after 1 s, 1 900 after 5 s here); with 2.5 s phases
 * unpatched aedes survived 3 runs of 3.
 */
const PHASE_MS = 5_000;
/** What a phase must carry before its clients exit, however long that takes. */
const MIN_MESSAGES = 10_000;
const LOAD: Omit<AbuseOptions, 'broker'> = { phaseMs: PHASE_MS, minPublished: MIN_MESSAGES, deadlineMs: SAFETY_DEADLINE_MS };
/** Room for every safety deadline of a run to show its message before the test times out. */
const PER_RUN = 4 * SAFETY_DEADLINE_MS;

/** The part of mqemitter that aedes routes messages through (aedes does not type it). */
interface Emitter {
  readonly length: number;
  on(topic: string, notify: (message: unknown, done: () => void) => void, done?: () => void): unknown;
  removeListener(topic: string, notify: (message: unknown, done: () => void) => void, done?: () => void): unknown;
  emit(message: { topic: string }, callback?: () => void): unknown;
}

function explain(result: RunResult): string {
  const load = result.phases.map((p) => `QoS ${p.qos}: published ${p.published}, received ${p.received}`).join('; ');
  if (!result.crash) return `${result.survived ? 'survived' : 'alive but did not serve a fresh client'} (${load})`;
  return `broker died during ${result.crash.during} (code ${result.crash.code}, signal ${result.crash.signal}; ${load}):\n${result.crash.error}`;
}

describe('abusive clients', () => {
  it("aedes' routing works off a backlog whose subscriber left without recursing (the crash's cause)", async () => {
    // One message in delivery at a time, held by its listener: everything emitted after it queues.
    const aedes = await Aedes.createBroker({ concurrency: 1 });
    try {
      const mq = (aedes as unknown as { mq: Emitter }).mq;
      const held: (() => void)[] = [];
      const subscriber = (_message: unknown, done: () => void) => void held.push(done);
      await new Promise<void>((resolve) => mq.on('flood/#', subscriber, resolve));
      const BACKLOG = 20_000; // unpatched, 3 000 already overflow the stack here
      let completed = 0;
      for (let i = 0; i <= BACKLOG; i++) mq.emit({ topic: `flood/${i}` }, () => completed++);
      expect(held).toHaveLength(1);
      expect(mq.length).toBe(BACKLOG);

      // The subscriber leaves; then the message it held completes, and the backlog, matching
      // no listener now, completes synchronously, one message after another.
      await new Promise<void>((resolve) => mq.removeListener('flood/#', subscriber, resolve));
      expect(() => held[0]!()).not.toThrow(); // unpatched: RangeError: Maximum call stack size exceeded
      expect(completed).toBe(BACKLOG + 1);
      expect(mq.length).toBe(0);
    } finally {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
    }
  });

  it('a plain aedes survives 4 flooding publishers and a subscriber exiting abruptly, QoS 0 then 1 (2 runs)', { timeout: 2 * PER_RUN }, async () => {
    for (let run = 0; run < 2; run++) {
      const result = await runAbuse({ broker: 'aedes', ...LOAD });
      expect(result.crash, explain(result)).toBeUndefined();
      expect(result.survived, explain(result)).toBe(true);
      // The load really was applied, at both QoS levels.
      expect(result.phases.map((p) => p.qos)).toEqual([0, 1]);
      for (const phase of result.phases) expect(phase.published, explain(result)).toBeGreaterThanOrEqual(MIN_MESSAGES);
    }
  });

  it('the district broker survives the same load from real gateways on their uplink topics', { timeout: PER_RUN }, async () => {
    const result = await runAbuse({ broker: 'district', ...LOAD, minReceived: MIN_MESSAGES });
    expect(result.crash, explain(result)).toBeUndefined();
    expect(result.survived, explain(result)).toBe(true);
    expect(result.phases.map((p) => p.qos)).toEqual([0, 1]);
    for (const phase of result.phases) {
      expect(phase.published, explain(result)).toBeGreaterThanOrEqual(MIN_MESSAGES);
      // The cloud really received the gateways' telemetry: the ACL let the load through.
      expect(phase.received, explain(result)).toBeGreaterThanOrEqual(MIN_MESSAGES);
    }
  });
});
