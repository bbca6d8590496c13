/**
 * Tile plan: which scaled copies of (bands of) a frame to cut into model-sized tiles, and
 * how the tiles' detections are stitched back into frame coordinates.
 *
 * BlazeFace finds a face once it is about `modelMinFacePx` input pixels wide (measured on
 * composed scenes of uniform faces, 256 input, score threshold 0.45: recall 100% at 14 px,
 * ~95% at 12; at 0.6: 88% at 14, 35% at 10; the 128 front model is no better per pixel). The
 * classroom plan uses 11 px: faces average well above a band's floor, and the composed
 * scenes keep recall >= 93% there (see the tests). A 1920x1080 frame squeezed into one 256 px input leaves a
 * classroom's 20-60 px faces at 3-8 px. Cost is model pixels, so each part of the frame is
 * shrunk only as far as the smallest face expected there allows.
 *
 * Assumptions of the classroom plan (`CLASSROOM_TILING.perspective`), from the geometry of a
 * camera high on a front wall or corner looking down over the desks:
 * - Faces sit on (roughly) a floor plane, so their size grows linearly with image row:
 *   about `minFacePx` at `farY` (the back row, near the top of the frame) up to `maxFacePx`
 *   at `nearY` (the front row), clamped to [minFacePx, maxFacePx] beyond. Faces on one row
 *   vary by `spread` around that line (children's heights, seating, a head turned).
 * - Nothing above `roiTop` of the frame is a face to count (wall, board, ceiling above the
 *   back row's heads). An installer moves it if a camera sees faces higher up.
 * - A face bigger than expected is still found by a coarser band or the whole-frame pass;
 *   a face smaller than the line minus `spread` may be missed: that is the plan's risk.
 * The frame is cut into horizontal bands, each `bandRows` model pixels high at its own scale
 * (the scale the band's top row, which has its smallest faces, needs). Bands overlap by the
 * largest face expected where they meet. The model takes any input whose sides are
 * multiples of `align` (see flex-model.ts), so each band is one model run over its whole
 * width: no side-by-side tiles, no overlap between them, padding only up to `align`.
 * `perspective: null` falls back to one uniform fine pass over the whole frame, cut into
 * overlapping square tiles of `tileSize` (the pre-band reference plan).
 *
 * Each tile owns a core region; a detection counts only in the tile whose core holds its
 * centre, so a face cut by one tile's edge is taken from the neighbour that sees it whole.
 * The optional whole-frame pass has no core: its finds are merged by NMS with the rest.
 */
import type { FaceBox } from './blazeface.ts';

export interface Perspective {
  /** Fraction of frame height above which no faces are searched. */
  roiTop: number;
  /** Fraction of frame height where faces are `minFacePx` (far rows). */
  farY: number;
  /** Fraction of frame height where faces are `maxFacePx` (near rows). */
  nearY: number;
  /** Faces on one image row are within this fraction of the line's size (0.25 = +-25%). */
  spread: number;
}

export interface TilingOptions {
  /** The model's native input side: square tiles of the uniform plan, bound of the whole-frame pass. */
  tileSize: number;
  /** Model input rows per perspective band. */
  bandRows: number;
  /** Model input sides are multiples of this (the model's coarsest stride). */
  align: number;
  /** Smallest face (frame pixels) the plan must find. */
  minFacePx: number;
  /** Largest face (frame pixels) a fine tile must see whole. */
  maxFacePx: number;
  /** Face size (model input pixels) the model still finds reliably. */
  modelMinFacePx: number;
  /** Add a whole-frame pass for near faces. */
  coarsePass: boolean;
  /** Face size by image row; null plans one uniform fine pass for `minFacePx` everywhere. */
  perspective: Perspective | null;
}

export const CLASSROOM_TILING: TilingOptions = {
  tileSize: 256,
  bandRows: 128,
  align: 32,
  minFacePx: 20,
  maxFacePx: 60,
  modelMinFacePx: 11,
  coarsePass: true,
  perspective: { roiTop: 0.12, farY: 0.2, nearY: 1, spread: 0.15 },
};

/**
 * A camera's own face sizes, set by its installer (the camera's `faces` option, or the
 * count-faces flags): the back row's smallest face, the front row's largest, and the top of
 * the region where faces are. Bigger faces need fewer model pixels (a 1080p frame: 7.9
 * 256x256 units from 20 px, 5.6 from 25 px, 4.1 from 30 px); smaller ones need more.
 */
export interface FaceSizes {
  /** Smallest face at the back row, frame pixels (default 20). */
  minPx?: number;
  /** Largest face at the front row, frame pixels (default 60). */
  maxPx?: number;
  /** Fraction of the frame height above which no face is searched (default 0.12). */
  roiTop?: number;
}

export const FACE_SIZE_LIMITS = { minPx: [8, 400], maxPx: [8, 1000], roiTop: [0, 0.9] } as const;

/** The plan's options with a camera's face sizes applied; RangeError for sizes out of bounds. */
export function withFaceSizes(base: TilingOptions, faces: FaceSizes | undefined): TilingOptions {
  if (!faces || (faces.minPx === undefined && faces.maxPx === undefined && faces.roiTop === undefined)) return base;
  for (const key of ['minPx', 'maxPx', 'roiTop'] as const) {
    const v = faces[key];
    const [lo, hi] = FACE_SIZE_LIMITS[key];
    if (v !== undefined && !(Number.isFinite(v) && v >= lo && v <= hi)) throw new RangeError(`faces.${key} must be within ${lo}..${hi}, got ${v}`);
  }
  const minFacePx = faces.minPx ?? base.minFacePx;
  const maxFacePx = faces.maxPx ?? Math.max(base.maxFacePx, minFacePx);
  if (maxFacePx < minFacePx) throw new RangeError(`faces.maxPx (${maxFacePx}) is below faces.minPx (${minFacePx})`);
  const perspective = base.perspective && faces.roiTop !== undefined ? { ...base.perspective, roiTop: faces.roiTop } : base.perspective;
  return { ...base, minFacePx, maxFacePx, perspective };
}

/** The pre-band plan (29 runs of 256x256 for 1080p): the whole frame at the scale 20 px faces need. */
export const UNIFORM_TILING: TilingOptions = { ...CLASSROOM_TILING, modelMinFacePx: 14, perspective: null };

export interface Tile {
  /** Top-left corner in the pass's scaled image (may extend past its right/bottom edge: padded). */
  x: number;
  y: number;
  /** Model input size for this tile (multiples of `align`). */
  width: number;
  height: number;
  /** Core region in scaled-image pixels: detections centred here belong to this tile. */
  core: { x0: number; y0: number; x1: number; y1: number };
}

export interface Pass {
  /** First frame row the pass covers, and how many (a band; the whole frame has 0 and height). */
  frameY: number;
  frameRows: number;
  /** Scaled image size for this pass (its frame rows times its scale, rounded). */
  width: number;
  height: number;
  /** Scaled image pixels per frame pixel, per axis (rounding makes them differ slightly). */
  scaleX: number;
  scaleY: number;
  tiles: Tile[];
  /**
   * Boxes narrower than this (model input px) are dropped. Set on the whole-frame pass when
   * finer passes cover the frame: there, faces under the model's floor are found by those,
   * and the coarse pass's guesses at them are loose boxes that NMS cannot merge.
   */
  minBoxPx?: number;
  /**
   * Boxes wider than this (model input px) are dropped. Set on bands: a fine band looking at a
   * face far bigger than its row expects sees part of it, or texture (a hand, a sleeve) that
   * the model mistakes for a face at that scale. Faces that big are the whole-frame pass's.
   */
  maxBoxPx?: number;
  /**
   * Boxes wider than this (model input px), the band's largest expected face, count only with
   * a score of at least `LARGE_BOX_MIN_SCORE`: a face that does not fit the row's size needs
   * stronger evidence than one that does.
   */
  expectedMaxPx?: number;
}

/**
 * Asked of boxes bigger than their band expects: above the model's reference 0.6, because a
 * band sampled at a fraction of the frame's resolution aliases large textures (lace, a
 * railing, a hand) into face-like patterns that score 0.6-0.7 (seen on the real group photos
 * in edge-agent/test/vision/group-photos.test.ts); real faces that big score higher, and
 * the whole-frame pass sees them anyway once they are over its floor.
 */
export const LARGE_BOX_MIN_SCORE = 0.75;

/** Tile origins along one axis: evenly spread, each step leaving at least `overlap` shared. */
function axisOrigins(length: number, tile: number, overlap: number): number[] {
  if (length <= tile) return [0];
  const n = Math.ceil((length - overlap) / (tile - overlap));
  const step = (length - tile) / (n - 1);
  return Array.from({ length: n }, (_, i) => Math.round(i * step));
}

/** Core bounds along one axis: split each overlap down the middle; outer tiles reach the border. */
function axisCores(origins: number[], tile: number): Array<[number, number]> {
  return origins.map((o, i) => {
    const lo = i === 0 ? -Infinity : (o + origins[i - 1]! + tile) / 2;
    const hi = i === origins.length - 1 ? Infinity : (origins[i + 1]! + o + tile) / 2;
    return [lo, hi];
  });
}

function makePass(
  frameW: number,
  frameY: number,
  frameRows: number,
  scale: number,
  tile: number,
  overlap: number,
  coreY: [number, number] = [-Infinity, Infinity],
): Pass {
  const width = Math.max(1, Math.round(frameW * scale));
  const height = Math.max(1, Math.round(frameRows * scale));
  const scaleX = width / frameW;
  const scaleY = height / frameRows;
  const xs = axisOrigins(width, tile, overlap);
  const ys = axisOrigins(height, tile, overlap);
  const xc = axisCores(xs, tile);
  const yc = axisCores(ys, tile);
  // The band's own vertical core (frame rows), in this pass's scaled pixels.
  const bandLo = (coreY[0] - frameY) * scaleY;
  const bandHi = (coreY[1] - frameY) * scaleY;
  const tiles: Tile[] = [];
  ys.forEach((y, j) =>
    xs.forEach((x, i) => {
      const [x0, x1] = xc[i]!;
      const [y0, y1] = yc[j]!;
      tiles.push({ x, y, width: tile, height: tile, core: { x0, y0: Math.max(y0, bandLo), x1, y1: Math.min(y1, bandHi) } });
    }),
  );
  return { frameY, frameRows, width, height, scaleX, scaleY, tiles };
}

function alignUp(n: number, align: number): number {
  return Math.max(align, Math.ceil(n / align) * align);
}

/** A pass run as one model input: the whole scaled image, padded up to `align`. */
function stripPass(frameW: number, frameY: number, frameRows: number, scale: number, align: number, coreY: [number, number] = [-Infinity, Infinity]): Pass {
  const width = Math.max(1, Math.round(frameW * scale));
  const height = Math.max(1, Math.round(frameRows * scale));
  const scaleX = width / frameW;
  const scaleY = height / frameRows;
  const core = { x0: -Infinity, x1: Infinity, y0: (coreY[0] - frameY) * scaleY, y1: (coreY[1] - frameY) * scaleY };
  const tile: Tile = { x: 0, y: 0, width: alignUp(width, align), height: alignUp(height, align), core };
  return { frameY, frameRows, width, height, scaleX, scaleY, tiles: [tile] };
}

/** Expected face size (frame px) on frame row y, before `spread`, clamped to [min, max]. */
export function faceSizeAt(y: number, frameH: number, options: TilingOptions): number {
  const { minFacePx, maxFacePx, perspective } = options;
  if (!perspective) return minFacePx;
  const t = (y / frameH - perspective.farY) / Math.max(1e-6, perspective.nearY - perspective.farY);
  return minFacePx + (maxFacePx - minFacePx) * Math.min(1, Math.max(0, t));
}

/** Smallest and largest face (frame px) expected on frame row y. */
export function faceRangeAt(y: number, frameH: number, options: TilingOptions): { min: number; max: number } {
  const spread = options.perspective?.spread ?? 0;
  const size = faceSizeAt(y, frameH, options);
  return { min: size * (1 - spread), max: Math.max(size * (1 + spread), options.perspective ? 0 : options.maxFacePx) };
}

/** Horizontal bands, each `bandRows` high at the scale its top row's smallest faces need. */
function planBands(frameW: number, frameH: number, options: TilingOptions, fitScale: number): Pass[] {
  const { bandRows, modelMinFacePx } = options;
  const p = options.perspective!;
  const bands: Array<{ y0: number; y1: number; scale: number }> = [];
  // Start half a face above roiTop, so a face centred just below it is seen whole.
  const roiY = p.roiTop * frameH;
  let y0 = Math.max(0, Math.min(frameH - 1, Math.floor(roiY - faceRangeAt(roiY, frameH, options).max / 2 - 2)));
  for (;;) {
    const scale = Math.min(1, modelMinFacePx / faceRangeAt(y0, frameH, options).min);
    // Faces this large fit the whole-frame pass; the coarse pass takes the rest of the frame.
    if (options.coarsePass && scale <= fitScale) break;
    const y1 = Math.min(frameH, y0 + Math.floor(bandRows / scale));
    bands.push({ y0, y1, scale });
    if (y1 >= frameH) break;
    // The next band starts early enough that a face on the seam lies whole in one of them.
    const overlap = Math.ceil(faceRangeAt(y1, frameH, options).max) + 4;
    const next = Math.max(y0 + 1, y1 - overlap);
    y0 = next;
  }
  return bands.map((b, i) => {
    const prev = bands[i - 1];
    const next = bands[i + 1];
    // Split each vertical overlap down the middle, as tiles do within a band.
    const lo = prev ? (b.y0 + prev.y1) / 2 : -Infinity;
    const hi = next ? (next.y0 + b.y1) / 2 : Infinity;
    const biggest = faceRangeAt(b.y1, frameH, options).max;
    const pass = stripPass(frameW, b.y0, b.y1 - b.y0, b.scale, options.align, [lo, hi]);
    // Twice the band's largest face, and never below 1.5x the smallest face the whole-frame
    // pass finds, so no face size falls between the two.
    if (options.coarsePass) pass.maxBoxPx = Math.max(2 * biggest, (1.5 * modelMinFacePx) / fitScale) * b.scale;
    pass.expectedMaxPx = biggest * b.scale;
    return pass;
  });
}

/** Plan the passes for a frame of the given size. Finest pass first, whole frame last. */
export function planTiles(frameW: number, frameH: number, options: TilingOptions = CLASSROOM_TILING): Pass[] {
  if (!(frameW > 0 && frameH > 0)) throw new RangeError('frame size must be positive');
  const { tileSize, minFacePx, maxFacePx, modelMinFacePx } = options;
  const longest = Math.max(frameW, frameH);
  const fitScale = tileSize / longest;
  const passes: Pass[] = [];
  if (options.perspective) {
    passes.push(...planBands(frameW, frameH, options, fitScale));
  } else {
    // Never upscale: a face smaller than the model's floor in the frame itself is out of reach.
    const fineScale = Math.min(1, modelMinFacePx / minFacePx);
    if (fineScale > fitScale) {
      const overlap = Math.min(tileSize / 2, Math.ceil(maxFacePx * fineScale) + 4);
      passes.push(makePass(frameW, 0, frameH, fineScale, tileSize, overlap));
    }
  }
  if (options.coarsePass || passes.length === 0) {
    const whole = stripPass(frameW, 0, frameH, fitScale, options.align);
    if (passes.length > 0) whole.minBoxPx = modelMinFacePx;
    passes.push(whole);
  }
  return passes;
}

/** How close (model input px) to a shared tile edge a box may reach before it counts as cut. */
const EDGE_PX = 1;

/** Map a detection from tile input pixels to frame pixels, or null if outside the tile's core. */
export function tileToFrame(box: FaceBox, pass: Pass, tile: Tile): FaceBox | null {
  const cx = tile.x + (box.x0 + box.x1) / 2;
  const cy = tile.y + (box.y0 + box.y1) / 2;
  const { core } = tile;
  if (cx < core.x0 || cx >= core.x1 || cy < core.y0 || cy >= core.y1) return null;
  const boxPx = box.x1 - box.x0;
  if (pass.minBoxPx !== undefined && boxPx < pass.minBoxPx) return null;
  if (pass.maxBoxPx !== undefined && boxPx > pass.maxBoxPx) return null;
  if (pass.expectedMaxPx !== undefined && boxPx > pass.expectedMaxPx && box.score < LARGE_BOX_MIN_SCORE) return null;
  // A box reaching an edge shared with a neighbour is a face cut by that edge: the model boxes
  // the visible part, whose centre can fall inside this core. The neighbour sees the face
  // whole (the overlap exceeds the largest face), so the cut copy is dropped. The edge is
  // where the image content ends, before any padding.
  const right = Math.min(tile.width, pass.width - tile.x);
  const bottom = Math.min(tile.height, pass.height - tile.y);
  if (core.x0 > -Infinity && box.x0 <= EDGE_PX) return null;
  if (core.x1 < Infinity && box.x1 >= right - EDGE_PX) return null;
  if (core.y0 > -Infinity && box.y0 <= EDGE_PX) return null;
  if (core.y1 < Infinity && box.y1 >= bottom - EDGE_PX) return null;
  // Padding beyond the scaled image is grey; a centre there is not a face in the frame.
  if (cx < 0 || cy < 0 || cx >= pass.width || cy >= pass.height) return null;
  return {
    x0: (tile.x + box.x0) / pass.scaleX,
    y0: pass.frameY + (tile.y + box.y0) / pass.scaleY,
    x1: (tile.x + box.x1) / pass.scaleX,
    y1: pass.frameY + (tile.y + box.y1) / pass.scaleY,
    score: box.score,
  };
}
