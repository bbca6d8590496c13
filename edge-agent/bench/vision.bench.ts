/**
 * Face-counting benchmark (a script, not a test):
 *   node --import tsx edge-agent/bench/vision.bench.ts [frames]
 *
 * A composed 1920x1080 classroom JPEG (40 faces) through the classroom tile plan, with
 * onnxruntime pinned to one intra-op thread, so the figures are per core. Prints
 * frames/s end to end (decode + tiles + inference + merge), frames/s for the model alone
 * (the same number of session.run calls on a prepared tensor), and peak RSS.
 */
import { performance } from 'node:perf_hooks';
import ort from 'onnxruntime-node';
import sharp from 'sharp';
import { blazeFaceModelPath, FaceDetector } from '../src/vision/detector.ts';
import { planTiles } from '../src/vision/tiling.ts';
import { composeClassroom } from '../test/vision/scene.ts';

const frames = Number(process.argv[2] ?? 30);
sharp.concurrency(1); // libvips threads too: the figure is per core
const scene = await composeClassroom({ faces: 40, seed: 99 });
const detector = await FaceDetector.create({ threads: 1 });
const passes = planTiles(1920, 1080, detector.tiling);
const tiles = passes.reduce((n, p) => n + p.tiles.length, 0);

for (let i = 0; i < 3; i++) await detector.count(scene.jpeg); // warm-up
let decodeMs = 0;
let inferMs = 0;
let faces = 0;
const t0 = performance.now();
for (let i = 0; i < frames; i++) {
  const r = await detector.count(scene.jpeg);
  decodeMs += r.decodeMs;
  inferMs += r.inferMs;
  faces = r.faces;
}
const e2eMs = (performance.now() - t0) / frames;
await detector.release();

const session = await ort.InferenceSession.create(blazeFaceModelPath('back256'), {
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
  logSeverityLevel: 3,
});
const side = detector.tiling.tileSize;
const input = new ort.Tensor('float32', new Float32Array(side * side * 3).fill(0.1), [1, side, side, 3]);
for (let i = 0; i < 5; i++) await session.run({ [session.inputNames[0]!]: input });
const t1 = performance.now();
for (let i = 0; i < frames * tiles; i++) await session.run({ [session.inputNames[0]!]: input });
const modelFrameMs = (performance.now() - t1) / frames;
await session.release();

const peakRssMb = process.resourceUsage().maxRSS / 1024;
const fmt = (n: number) => n.toFixed(1);
console.log(`frame 1920x1080 JPEG ${(scene.jpeg.length / 1024).toFixed(0)} KiB, 40 true faces, counted ${faces}`);
console.log(
  `plan: ${passes.map((p) => `${p.tiles.length} tiles of ${side} on ${p.width}x${p.height}`).join(' + ')} = ${tiles} model runs per frame`,
);
console.log(`end to end: ${fmt(e2eMs)} ms/frame = ${fmt(1000 / e2eMs)} frames/s per core (decode ${fmt(decodeMs / frames)} ms, tiles+inference+merge ${fmt(inferMs / frames)} ms)`);
console.log(`model alone: ${fmt(modelFrameMs)} ms/frame = ${fmt(1000 / modelFrameMs)} frames/s per core (${fmt(modelFrameMs / tiles)} ms per ${side}x${side} run); model share of end to end ${fmt((100 * modelFrameMs) / e2eMs)}%`);
console.log(`peak RSS: ${fmt(peakRssMb)} MiB`);
console.log(`target 25 frames/s per core end to end: ${1000 / e2eMs >= 25 ? 'met' : `not met (${fmt((25 * e2eMs) / 1000)}x short)`}`);
