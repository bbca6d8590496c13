/**
 * Test helper: composes a 1920x1080 classroom-like JPEG from real face photographs, with
 * the true face boxes known by construction.
 *
 * Source photo: tracking@1.1.3, examples/assets/faces.jpg (600x346, three people). The crop
 * rectangles below were chosen by looking at the photo: each holds one whole face (the face
 * itself is the middle ~53% of the crop) and no other face. A ceiling-corner camera sees the
 * back rows small near the top of the frame and the front rows larger near the bottom, so
 * face size grows from `minFace` to `maxFace` row by row. Pixels stay in memory.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import sharp, { type OverlayOptions } from 'sharp';
import type { FaceBox } from '../../src/vision/blazeface.ts';
import { mulberry32 } from '../../../simulators/src/district/random.ts';

const require = createRequire(import.meta.url);
export const FACES_JPG = join(dirname(require.resolve('tracking/package.json')), 'examples/assets/faces.jpg');

/** Crop rectangles in faces.jpg; the face box is the crop shrunk by `FACE_MARGIN` of the face side per edge. */
const CROPS = [
  { left: 5, top: 60, width: 173, height: 173 }, // long hair, glasses
  { left: 179, top: 96, width: 194, height: 194 }, // centre, red hoodie
  { left: 418, top: 35, width: 168, height: 168 }, // right, sweater
] as const;
const FACE_MARGIN = 0.45;

export interface SceneOptions {
  faces: number;
  seed: number;
  width?: number;
  height?: number;
  minFace?: number;
  maxFace?: number;
  rows?: number;
  /** Fractions of the height the rows are stretched over, far row first (default 0.24..0.82). */
  rowSpan?: readonly [number, number];
}

export interface Scene {
  jpeg: Buffer;
  truth: FaceBox[];
}

function backgroundSvg(w: number, h: number, rowYs: number[], rowFaces: number[]): string {
  const desks = rowYs
    .map((y, i) => {
      const f = rowFaces[i]!;
      const top = Math.round(y + f * 1.1);
      return `<rect x="${Math.round(w * 0.04)}" y="${top}" width="${Math.round(w * 0.92)}" height="${Math.round(f * 0.8)}" fill="#8a6a48"/>`;
    })
    .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}">
<rect width="${w}" height="${h}" fill="#d9d2bf"/>
<rect y="${Math.round(h * 0.62)}" width="${w}" height="${Math.round(h * 0.38)}" fill="#a39a8a"/>
<rect x="${Math.round(w * 0.3)}" y="${Math.round(h * 0.04)}" width="${Math.round(w * 0.4)}" height="${Math.round(h * 0.16)}" fill="#f4f6f2" stroke="#555" stroke-width="6"/>
<rect x="${Math.round(w * 0.03)}" y="${Math.round(h * 0.05)}" width="${Math.round(w * 0.12)}" height="${Math.round(h * 0.2)}" fill="#b9d4e6" stroke="#777" stroke-width="5"/>
<rect x="${Math.round(w * 0.85)}" y="${Math.round(h * 0.05)}" width="${Math.round(w * 0.12)}" height="${Math.round(h * 0.2)}" fill="#b9d4e6" stroke="#777" stroke-width="5"/>
${desks}
</svg>`;
}

/** Compose a scene of exactly `faces` faces, rows far (small, top) to near (large, bottom). */
export async function composeClassroom(options: SceneOptions): Promise<Scene> {
  const w = options.width ?? 1920;
  const h = options.height ?? 1080;
  const minFace = options.minFace ?? 20;
  const maxFace = options.maxFace ?? 60;
  const rows = options.rows ?? 6;
  const rand = mulberry32(options.seed); // reproducible scenes
  const perRow = Array.from({ length: rows }, (_, r) => Math.floor(options.faces / rows) + (r < options.faces % rows ? 1 : 0));
  const rowFaces = Array.from({ length: rows }, (_, r) => minFace + ((maxFace - minFace) * r) / Math.max(1, rows - 1));
  // Row spacing proportional to face size (perspective), stretched to fill the row span
  // (24%..82% of the height unless told otherwise).
  const [spanTop, spanBottom] = options.rowSpan ?? [0.24, 0.82];
  const steps = rowFaces.slice(0, -1);
  const span = steps.reduce((a, b) => a + b, 0) || 1;
  const rowYs: number[] = [];
  let y = h * spanTop;
  for (let r = 0; r < rows; r++) {
    rowYs.push(Math.round(y));
    y += (rowFaces[r]! / span) * h * (spanBottom - spanTop);
  }
  const source = sharp(FACES_JPG);
  const composites: OverlayOptions[] = [];
  const truth: FaceBox[] = [];
  for (let r = 0; r < rows; r++) {
    const n = perRow[r]!;
    const face = rowFaces[r]! * (0.9 + rand() * 0.2);
    const cropSide = Math.round(face * (1 + 2 * FACE_MARGIN));
    const slot = (w * 0.9) / n;
    for (let i = 0; i < n; i++) {
      const which = CROPS[Math.floor(rand() * CROPS.length)]!;
      const jitter = (slot - cropSide) * 0.35 * (rand() * 2 - 1);
      const left = Math.round(w * 0.05 + slot * (i + 0.5) - cropSide / 2 + Math.max(0, jitter));
      const top = Math.round(rowYs[r]! - cropSide / 2 + (rand() * 2 - 1) * face * 0.15);
      let crop = source.clone().extract(which).resize(cropSide, cropSide);
      if (rand() < 0.5) crop = crop.flop();
      crop = crop.modulate({ brightness: 0.85 + rand() * 0.3 });
      composites.push({ input: await crop.png().toBuffer(), left, top });
      const side = cropSide / (1 + 2 * FACE_MARGIN);
      const m = side * FACE_MARGIN;
      truth.push({ x0: left + m, y0: top + m, x1: left + m + side, y1: top + m + side, score: 1 });
    }
  }
  const jpeg = await sharp(Buffer.from(backgroundSvg(w, h, rowYs, rowFaces)))
    .composite(composites)
    .jpeg({ quality: 85 })
    .toBuffer();
  return { jpeg, truth };
}

/** One-to-one match: a detection hits a true face if its centre lies in it and sizes are within 2x. */
export function score(truth: readonly FaceBox[], found: readonly FaceBox[]): { tp: number; recall: number; precision: number } {
  const used = new Uint8Array(truth.length);
  let tp = 0;
  for (const d of found) {
    const cx = (d.x0 + d.x1) / 2;
    const cy = (d.y0 + d.y1) / 2;
    const dw = d.x1 - d.x0;
    const k = truth.findIndex((t, i) => {
      const tw = t.x1 - t.x0;
      return !used[i] && cx >= t.x0 && cx <= t.x1 && cy >= t.y0 && cy <= t.y1 && dw < 2 * tw && dw > tw / 2;
    });
    if (k >= 0) {
      used[k] = 1;
      tp++;
    }
  }
  return { tp, recall: truth.length ? tp / truth.length : 1, precision: found.length ? tp / found.length : 1 };
}
