/**
 * FaceCounter: real worker thread, real model. Counts only come back; the queue bound,
 * the timeout and bad input are handled without taking the main thread down.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
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

  it('keeps the event loop free while a classroom frame is counted', async () => {
    const c = counter();
    await c.start();
    const scene = await composeClassroom({ faces: 36, seed: 5 });
    let ticks = 0;
    let worstGap = 0;
    let last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      worstGap = Math.max(worstGap, now - last);
      last = now;
      ticks++;
    }, 5);
    try {
      const r = await c.countFaces(scene.jpeg);
      expect(Math.abs(r.faces - 36)).toBeLessThanOrEqual(3);
      expect(r.inferMs).toBeGreaterThan(20);
    } finally {
      clearInterval(timer);
    }
    expect(ticks).toBeGreaterThan(5);
    expect(worstGap).toBeLessThan(100);
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
    const deadline = Date.now() + 10_000;
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
