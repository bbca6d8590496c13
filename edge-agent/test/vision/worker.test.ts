/**
 * FaceCounter: real worker thread, real model. Counts only come back; the queue bound,
 * the timeout and bad input are handled without taking the main thread down.
 */
import { existsSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { FaceCounter, FaceCounterError } from '../../src/vision/worker.ts';
import { composeClassroom, FACES_JPG } from './scene.ts';

const counters: FaceCounter[] = [];
function counter(options: ConstructorParameters<typeof FaceCounter>[0] = {}): FaceCounter {
  const c = new FaceCounter(options);
  counters.push(c);
  return c;
}
afterEach(async () => {
  await Promise.all(counters.splice(0).map((c) => c.close()));
});

/**
 * CPU time this thread (the process's main thread, where the test and the agent's event loop
 * run) has used, ms, from Linux's per-thread accounting (in 1/100 s): unlike a stopwatch, a
 * busy machine does not add to it.
 */
const MAIN_THREAD_STAT = `/proc/self/task/${process.pid}/stat`;
function mainThreadCpuMs(): number {
  const fields = readFileSync(MAIN_THREAD_STAT, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10; // utime + stime
}
const processCpuMs = (since: NodeJS.CpuUsage) => {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1000;
};

describe('FaceCounter (worker thread)', () => {
  it('counts the faces of a real photo and returns numbers only', async () => {
    const c = counter();
    const jpeg = readFileSync(FACES_JPG);
    const r = await c.countFaces(jpeg);
    expect(r.faces).toBe(3);
    expect(Object.keys(r).sort()).toEqual(['decodeMs', 'faces', 'height', 'inferMs', 'width']);
    for (const v of Object.values(r)) expect(typeof v).toBe('number');
    expect(jpeg.length).toBeGreaterThan(0); // the caller's buffer is not detached
  });

  it.skipIf(!existsSync(MAIN_THREAD_STAT))('keeps the event loop free while a classroom frame is counted', async () => {
    const c = counter();
    await c.start();
    const scene = await composeClassroom({ faces: 36, seed: 5 });
    // The event loop's thread spends next to nothing of the CPU the count takes: decoding
    // and inference run on other threads. (Had they run here, this thread would have used
    // it all, and the agent's timers and sockets would have waited that long.)
    const main0 = mainThreadCpuMs();
    const process0 = process.cpuUsage();
    const r = await c.countFaces(scene.jpeg);
    const main = mainThreadCpuMs() - main0;
    const total = processCpuMs(process0);
    expect(Math.abs(r.faces - 36)).toBeLessThanOrEqual(3);
    // (Half, and one tick of the per-thread accounting: the count takes some 70 ms of CPU and more.)
    expect(main, `main thread ${main} ms of ${total} ms CPU`).toBeLessThanOrEqual(total / 2 + 10);
  });

  it("counts with a camera's face sizes, and refuses impossible ones without losing the worker", async () => {
    const c = counter();
    const jpeg = readFileSync(FACES_JPG);
    expect((await c.countFaces(jpeg, { minPx: 60, maxPx: 150 })).faces).toBe(3);
    const err = await c.countFaces(jpeg, { minPx: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FaceCounterError);
    expect((err as FaceCounterError).message).toMatch(/faces.minPx/);
    expect((await c.countFaces(jpeg)).faces).toBe(3);
  });

  it('reports a decode error for garbage and keeps working', async () => {
    const c = counter();
    const err = await c.countFaces(new TextEncoder().encode('not an image at all')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FaceCounterError);
    expect((err as FaceCounterError).kind).toBe('decode');
    expect((await c.countFaces(readFileSync(FACES_JPG))).faces).toBe(3);
  });

  it('refuses work beyond its queue bound instead of piling frames up', async () => {
    const c = counter({ maxQueue: 2 });
    await c.start();
    const jpeg = readFileSync(FACES_JPG);
    const a = c.countFaces(jpeg);
    const b = c.countFaces(jpeg);
    const err = await c.countFaces(jpeg).catch((e: unknown) => e);
    expect((err as FaceCounterError).kind).toBe('busy');
    expect((await a).faces).toBe(3);
    expect((await b).faces).toBe(3);
    expect(c.queued).toBe(0);
  });

  it('times out a slow request; the frame keeps its queue slot until the worker is done with it', async () => {
    const c = counter({ timeoutMs: 30, maxQueue: 1 });
    await c.start();
    const scene = await composeClassroom({ faces: 30, seed: 6 });
    const err = await c.countFaces(scene.jpeg).catch((e: unknown) => e);
    expect((err as FaceCounterError).kind).toBe('timeout');
    expect(c.queued).toBe(1);
    const busy = await c.countFaces(scene.jpeg).catch((e: unknown) => e);
    expect((busy as FaceCounterError).kind).toBe('busy');
    // The worker finishes the frame in its own time; then the slot is free.
    const deadline = Date.now() + 30_000;
    while (c.queued > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(c.queued).toBe(0);
  });

  it('rejects after close', async () => {
    const c = counter();
    await c.close();
    const err = await c.countFaces(readFileSync(FACES_JPG)).catch((e: unknown) => e);
    expect((err as FaceCounterError).kind).toBe('closed');
  });
});
