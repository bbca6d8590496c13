/**
 * How long the simulated classroom camera takes to compose a snapshot (a script, not a test):
 *
 *   node --import tsx simulators/bench/camera-scene.ts [frames]
 *
 * Composes `frames` 1920x1080 JPEGs (30-39 faces each, as in a lesson) after one warm-up
 * frame and prints ms per frame (mean, median, fastest) and the size of a 45-face frame. On
 * a shared machine, compare the median and the fastest.
 */
import { performance } from 'node:perf_hooks';
import { ClassroomScene } from '../src/protocols/camera-scene.ts';

const frames = Number(process.argv[2] ?? 10);
const scene = await ClassroomScene.create();
const full = await scene.compose(3, 45); // warm-up
const times: number[] = [];
for (let i = 0; i < frames; i++) {
  const t0 = performance.now();
  await scene.compose(100 + i, 30 + (i % 10));
  times.push(performance.now() - t0);
}
const sorted = [...times].sort((a, b) => a - b);
const mean = times.reduce((a, b) => a + b, 0) / times.length;
console.log(
  `camera-scene: ${frames} composed 1920x1080 frames (30-39 faces, JPEG q85): ` +
    `mean ${mean.toFixed(1)} ms, median ${sorted[sorted.length >> 1]!.toFixed(1)} ms, fastest ${sorted[0]!.toFixed(1)} ms; ` +
    `${full.jpeg.length} bytes at 45 faces`,
);
