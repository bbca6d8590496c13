/**
 * Face-counting benchmark (a script, not a test):
 *   node --import tsx edge-agent/bench/vision.bench.ts [frames] [minFacePx]
 *
 * With minFacePx (default 20, the classroom plan's), the scene's faces and the camera's
 * `faces` option are minFacePx..3x that: what a camera calibrated to bigger faces costs.
 *
 * A composed 1920x1080 classroom JPEG (40 faces) through the classroom plan (one model run
 * per perspective band, plus the whole frame), with onnxruntime on one intra-op thread and
 * libvips on one thread, so the figures are per core. Prints frames/s end to end (decode,
 * sampling the model inputs, inference, boxes and NMS) with that breakdown and the process
 * CPU time per frame, the model alone (the same input shapes through the same edited model,
 * prepared once), and peak RSS. On a shared machine, compare the median and fastest frame.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import ort from 'onnxruntime-node';
import sharp from 'sharp';
import { blazeFaceModelPath, FaceDetector } from '../src/vision/detector.ts';
import { makeBlazeFaceFlexible } from '../src/vision/flex-model.ts';
import { planTiles, withFaceSizes } from '../src/vision/tiling.ts';
import { composeClassroom } from '../test/vision/scene.ts';

const frames = Number(process.argv[2] ?? 30);
const minFacePx = Number(process.argv[3] ?? 20);
const sizes = minFacePx === 20 ? undefined : { minPx: minFacePx, maxPx: 3 * minFacePx };
sharp.concurrency(1); // libvips threads too: the figure is per core
const scene = await composeClassroom({ faces: 40, seed: 99, ...(sizes ? { minFace: sizes.minPx, maxFace: sizes.maxPx } : {}) });
const detector = await FaceDetector.create({ threads: 1 });
const passes = planTiles(1920, 1080, withFaceSizes(detector.tiling, sizes));
const tiles = passes.reduce((n, p) => n + p.tiles.length, 0);

for (let i = 0; i < 3; i++) await detector.count(scene.jpeg, sizes); // warm-up
let decodeMs = 0;
let inferMs = 0;
let sampleMs = 0;
let runMs = 0;
const perFrame: number[] = [];
let faces = 0;
const cpu0 = process.cpuUsage();
const t0 = performance.now();
for (let i = 0; i < frames; i++) {
  const f0 = performance.now();
  const r = await detector.detect(scene.jpeg, sizes);
  perFrame.push(performance.now() - f0);
  decodeMs += r.decodeMs;
  inferMs += r.inferMs;
  sampleMs += r.sampleMs;
  runMs += r.modelMs;
  faces = r.boxes.length;
}
const e2eMs = (performance.now() - t0) / frames;
const cpu = process.cpuUsage(cpu0);
const cpuMs = (cpu.user + cpu.system) / 1000 / frames;
await detector.release();

// The model alone: the same inputs (shapes) through the same edited model, one session per
// shape as the detector has them, prepared once.
const model = readFileSync(blazeFaceModelPath('back256'));
const runs = await Promise.all(
  passes
    .flatMap((p) => p.tiles)
    .map(async (t) => {
      const session = await ort.InferenceSession.create(makeBlazeFaceFlexible(model, { height: t.height, width: t.width }).bytes, {
        intraOpNumThreads: 1,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
        logSeverityLevel: 3,
      });
      return { session, input: new ort.Tensor('uint8', new Uint8Array(t.width * t.height * 3).fill(100), [1, t.height, t.width, 3]) };
    }),
);
const runAll = async () => {
  for (const { session, input } of runs) await session.run({ [session.inputNames[0]!]: input });
};
for (let i = 0; i < 3; i++) await runAll();
const t1 = performance.now();
for (let i = 0; i < frames; i++) await runAll();
const modelFrameMs = (performance.now() - t1) / frames;
await Promise.all(runs.map((r) => r.session.release()));
const modelPixels = passes.flatMap((p) => p.tiles).reduce((n, t) => n + t.width * t.height, 0);

const peakRssMb = process.resourceUsage().maxRSS / 1024;
const fmt = (n: number) => n.toFixed(1);
console.log(`frame 1920x1080 JPEG ${(scene.jpeg.length / 1024).toFixed(0)} KiB, 40 true faces of ${minFacePx}-${3 * minFacePx} px, counted ${faces}`);
console.log(
  `plan: ${passes.map((p) => p.tiles.map((t) => `${t.width}x${t.height}`).join('+') + ` on ${p.width}x${p.height}`).join(' + ')} = ${tiles} model runs per frame, ${(modelPixels / 65536).toFixed(2)}x the pixels of one 256x256 run`,
);
const fastest = Math.min(...perFrame);
const median = [...perFrame].sort((a, b) => a - b)[Math.floor(frames / 2)]!;
console.log(`end to end: ${fmt(e2eMs)} ms/frame = ${fmt(1000 / e2eMs)} frames/s per core (median frame ${fmt(median)} ms, fastest ${fmt(fastest)} ms; process CPU ${fmt(cpuMs)} ms/frame)`);
console.log(
  `  decode ${fmt(decodeMs / frames)} ms, sampling inputs ${fmt(sampleMs / frames)} ms, session.run ${fmt(runMs / frames)} ms, boxes+NMS ${fmt((inferMs - sampleMs - runMs) / frames)} ms`,
);
console.log(`model alone: ${fmt(modelFrameMs)} ms/frame = ${fmt(1000 / modelFrameMs)} frames/s per core (${fmt((modelFrameMs * 65536) / modelPixels)} ms per 256x256 of input); model share of end to end ${fmt((100 * modelFrameMs) / e2eMs)}%`);
console.log(`peak RSS: ${fmt(peakRssMb)} MiB`);
console.log(`target 25 frames/s per core end to end: ${1000 / e2eMs >= 25 ? 'met' : `not met (${fmt((25 * e2eMs) / 1000)}x short)`}`);
