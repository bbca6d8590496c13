/**
 * The gateway's shared face counter (the real vision worker): cameras whose frames arrive
 * while the worker is full take turns in arrival order instead of racing for a free slot.
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { startVisionCounter, type VisionCounter } from '../src/drivers/vision-counter.ts';
import { FACES_JPG } from './vision/scene.ts';

const counters: VisionCounter[] = [];
afterEach(async () => {
  await Promise.all(counters.splice(0).map((c) => c.close()));
});

describe('vision counter: fair turns', () => {
  it('counts every camera of a burst in arrival order when they wait their turn', async () => {
    const counter = startVisionCounter({ maxQueue: 1, waitMs: 30_000 });
    counters.push(counter);
    const jpeg = readFileSync(FACES_JPG);
    const finished: number[] = [];
    const signal = new AbortController().signal;
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        counter.countFaces(jpeg, signal).then((faces) => {
          finished.push(i);
          return faces;
        }),
      ),
    );
    expect(results).toEqual([3, 3, 3, 3, 3, 3]);
    expect(finished).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('gives the next turn to the camera whose count has been due longest, not to the latest to ask', async () => {
    const counter = startVisionCounter({ maxQueue: 1, waitMs: 30_000 });
    counters.push(counter);
    const jpeg = readFileSync(FACES_JPG);
    const signal = new AbortController().signal;
    const order: string[] = [];
    const ask = (name: string, dueSince: number) => counter.countFaces(jpeg, signal, undefined, dueSince).then(() => order.push(name));
    // 'first' takes the worker; 'late' asks next, but 'retry' was due before it (sent away earlier).
    await Promise.all([ask('first', 300), ask('late', 200), ask('retry', 100)]);
    expect(order).toEqual(['first', 'retry', 'late']);
  });

  it('says "not now" (null) after waiting waitMs, and stops waiting when the poll is aborted', async () => {
    const counter = startVisionCounter({ maxQueue: 1, waitMs: 1 });
    counters.push(counter);
    const jpeg = readFileSync(FACES_JPG);
    const signal = new AbortController().signal;
    const [first, second] = await Promise.all([counter.countFaces(jpeg, signal), counter.countFaces(jpeg, signal)]);
    expect(first).toBe(3);
    expect(second).toBeNull();

    const patient = startVisionCounter({ maxQueue: 1, waitMs: 60_000 });
    counters.push(patient);
    const poll = new AbortController();
    const running = patient.countFaces(jpeg, new AbortController().signal);
    const waiting = patient.countFaces(jpeg, poll.signal);
    poll.abort(new Error('poll deadline'));
    await expect(waiting).rejects.toThrow('poll deadline');
    expect(await running).toBe(3);
    // The aborted wait gave its place up: the next frame is counted.
    expect(await patient.countFaces(jpeg, new AbortController().signal)).toBe(3);
  });
});
