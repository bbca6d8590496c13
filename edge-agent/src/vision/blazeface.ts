/**
 * BlazeFace post-processing: raw model outputs -> face boxes, and weighted NMS.
 *
 * Boxes stay inside the worker that runs the model; only counts cross its boundary.
 * Decoding follows the model's own convention: score logits through a sigmoid, box centre
 * = anchor centre + regressor, box size = regressor, all in input pixels.
 */
import { anchorCenter, BLAZEFACE_LAYERS, layerGrid, type LayerGrid } from './anchors.ts';

/** An axis-aligned face box with its confidence, in whatever coordinate frame the caller uses. */
export interface FaceBox {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
  score: number;
}

/** Raw outputs of one inference, for one image of the batch. */
export interface RawOutputs {
  /** Score logits of the stride-16 layer (2 per cell) and the stride-32 layer (6 per cell), at 256. */
  scores: readonly [Float32Array, Float32Array];
  /** 16 regressors per anchor (box cx, cy, w, h, then 6 keypoints) for each layer. */
  boxes: readonly [Float32Array, Float32Array];
}

/** The model input a decode refers to: its size and the model's native square side. */
export interface InputGeometry {
  width: number;
  height: number;
  nativeSide: number;
}

const REGRESSORS = 16;

function logit(p: number): number {
  return Math.log(p / (1 - p));
}

/** Anchors per layer for an input of this size: what the outputs' lengths must be. */
export function anchorCounts(input: InputGeometry): [number, number] {
  const counts = BLAZEFACE_LAYERS.map((l) => {
    const g = layerGrid(l, input.nativeSide, input.width, input.height);
    return g.cols * g.rows * g.perCell;
  });
  return [counts[0]!, counts[1]!];
}

function decodeLayer(grid: LayerGrid, scores: Float32Array, boxes: Float32Array, minLogit: number, out: FaceBox[]): void {
  const count = grid.cols * grid.rows * grid.perCell;
  if (scores.length < count || boxes.length < count * REGRESSORS) {
    throw new RangeError(`model output too short for a ${grid.cols}x${grid.rows} layer`);
  }
  for (let i = 0; i < count; i++) {
    const s = scores[i]!;
    // Comparing logits avoids a sigmoid per anchor: almost all anchors are background.
    if (!(s > minLogit)) continue;
    const b = i * REGRESSORS;
    const c = anchorCenter(grid, i);
    const cx = c.x + boxes[b]!;
    const cy = c.y + boxes[b + 1]!;
    const w = boxes[b + 2]!;
    const h = boxes[b + 3]!;
    if (!(w > 0 && h > 0)) continue;
    // The model's logits can be extreme; clamp as the reference calculators do.
    const score = 1 / (1 + Math.exp(-Math.max(-100, Math.min(100, s))));
    out.push({ x0: cx - w / 2, y0: cy - h / 2, x1: cx + w / 2, y1: cy + h / 2, score });
  }
}

/** Candidates above `threshold` (0..1), boxes in input pixels. */
export function decodeBlazeFace(raw: RawOutputs, input: InputGeometry, threshold: number): FaceBox[] {
  const out: FaceBox[] = [];
  const minLogit = logit(threshold);
  for (let l = 0; l < BLAZEFACE_LAYERS.length; l++) {
    const grid = layerGrid(BLAZEFACE_LAYERS[l]!, input.nativeSide, input.width, input.height);
    decodeLayer(grid, raw.scores[l]!, raw.boxes[l]!, minLogit, out);
  }
  return out;
}

function area(b: FaceBox): number {
  return Math.max(0, b.x1 - b.x0) * Math.max(0, b.y1 - b.y0);
}

function intersection(a: FaceBox, b: FaceBox): number {
  const w = Math.min(a.x1, b.x1) - Math.max(a.x0, b.x0);
  const h = Math.min(a.y1, b.y1) - Math.max(a.y0, b.y0);
  return w > 0 && h > 0 ? w * h : 0;
}

export function iou(a: FaceBox, b: FaceBox): number {
  const inter = intersection(a, b);
  return inter > 0 ? inter / (area(a) + area(b) - inter) : 0;
}

/**
 * Overlap used to decide two boxes are the same face: IoU, or how much of the smaller box
 * lies inside the larger one. The second catches a face seen at two tiling scales, where
 * one pass draws a tighter box than the other and plain IoU stays low.
 */
export function overlap(a: FaceBox, b: FaceBox): { iou: number; ofSmaller: number } {
  const inter = intersection(a, b);
  if (inter === 0) return { iou: 0, ofSmaller: 0 };
  const aa = area(a);
  const ab = area(b);
  return { iou: inter / (aa + ab - inter), ofSmaller: inter / Math.min(aa, ab) };
}

export interface NmsOptions {
  /** Boxes with IoU at or above this are merged (BlazeFace's reference uses 0.3). */
  iou: number;
  /** Also merge when this much of the smaller box lies in the larger (1 disables). */
  containment?: number;
}

/**
 * Weighted NMS: take the best remaining box, blend every box overlapping it into a
 * score-weighted mean, keep the best score. Blending steadies the box across tiles.
 */
export function weightedNms(boxes: readonly FaceBox[], options: NmsOptions): FaceBox[] {
  const containment = options.containment ?? 1.01;
  const order = [...boxes].sort((a, b) => b.score - a.score);
  const used = new Uint8Array(order.length);
  const kept: FaceBox[] = [];
  for (let i = 0; i < order.length; i++) {
    if (used[i]) continue;
    const best = order[i]!;
    let wsum = 0;
    let x0 = 0;
    let y0 = 0;
    let x1 = 0;
    let y1 = 0;
    for (let j = i; j < order.length; j++) {
      if (used[j]) continue;
      const other = order[j]!;
      const o = j === i ? { iou: 1, ofSmaller: 1 } : overlap(best, other);
      if (o.iou < options.iou && o.ofSmaller < containment) continue;
      used[j] = 1;
      wsum += other.score;
      x0 += other.x0 * other.score;
      y0 += other.y0 * other.score;
      x1 += other.x1 * other.score;
      y1 += other.y1 * other.score;
    }
    kept.push({ x0: x0 / wsum, y0: y0 / wsum, x1: x1 / wsum, y1: y1 / wsum, score: best.score });
  }
  return kept;
}
