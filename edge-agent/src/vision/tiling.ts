/**
 * Tile plan: which scaled copies of a frame to cut into model-sized tiles, and how the
 * tiles' detections are stitched back into frame coordinates.
 *
 * A ceiling-corner classroom camera sees faces of 20-60 px in a 1920x1080 frame; squeezing
 * the whole frame into one 256 px input leaves them at 3-8 px, below what BlazeFace can see.
 * So a "fine" pass shrinks the frame only as far as the smallest expected face allows and
 * cuts it into overlapping tiles; a "coarse" pass fits the whole frame into one tile for
 * faces close to the lens (or an installer's test photo). Each tile owns a core region;
 * a detection counts only in the tile whose core holds its centre, so a face cut by one
 * tile's edge is taken from the neighbour that sees it whole (the overlap is at least the
 * largest expected face at that scale).
 */
import type { FaceBox } from './blazeface.ts';

export interface TilingOptions {
  /** Model input side in pixels. */
  tileSize: number;
  /** Smallest face (frame pixels) the plan must find. */
  minFacePx: number;
  /** Largest face (frame pixels) the fine pass must see whole inside one tile. */
  maxFacePx: number;
  /** Face size (model input pixels) the model still finds reliably. */
  modelMinFacePx: number;
  /** Add a whole-frame pass for near faces. */
  coarsePass: boolean;
}

export const CLASSROOM_TILING: TilingOptions = {
  tileSize: 256,
  minFacePx: 20,
  maxFacePx: 60,
  modelMinFacePx: 14,
  coarsePass: true,
};

export interface Tile {
  /** Top-left corner in the pass's scaled image (may extend past its right/bottom edge: padded). */
  x: number;
  y: number;
  /** Core region in scaled-image pixels: detections centred here belong to this tile. */
  core: { x0: number; y0: number; x1: number; y1: number };
}

export interface Pass {
  /** Scaled image size for this pass (frame size times its scale, rounded). */
  width: number;
  height: number;
  /** Scaled image pixels per frame pixel, per axis (rounding makes them differ slightly). */
  scaleX: number;
  scaleY: number;
  tiles: Tile[];
}

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

function makePass(frameW: number, frameH: number, scale: number, tile: number, overlap: number): Pass {
  const width = Math.max(1, Math.round(frameW * scale));
  const height = Math.max(1, Math.round(frameH * scale));
  const xs = axisOrigins(width, tile, overlap);
  const ys = axisOrigins(height, tile, overlap);
  const xc = axisCores(xs, tile);
  const yc = axisCores(ys, tile);
  const tiles: Tile[] = [];
  ys.forEach((y, j) =>
    xs.forEach((x, i) => {
      const [x0, x1] = xc[i]!;
      const [y0, y1] = yc[j]!;
      tiles.push({ x, y, core: { x0, y0, x1, y1 } });
    }),
  );
  return { width, height, scaleX: width / frameW, scaleY: height / frameH, tiles };
}

/** Plan the passes for a frame of the given size. Finest pass first. */
export function planTiles(frameW: number, frameH: number, options: TilingOptions = CLASSROOM_TILING): Pass[] {
  if (!(frameW > 0 && frameH > 0)) throw new RangeError('frame size must be positive');
  const { tileSize, minFacePx, maxFacePx, modelMinFacePx } = options;
  const longest = Math.max(frameW, frameH);
  const fitScale = tileSize / longest;
  // Never upscale: a face smaller than the model's floor in the frame itself is out of reach.
  const fineScale = Math.min(1, modelMinFacePx / minFacePx);
  const passes: Pass[] = [];
  if (fineScale > fitScale) {
    const overlap = Math.min(tileSize / 2, Math.ceil(maxFacePx * fineScale) + 4);
    passes.push(makePass(frameW, frameH, fineScale, tileSize, overlap));
  }
  if (options.coarsePass || passes.length === 0) {
    passes.push(makePass(frameW, frameH, fitScale, tileSize, 0));
  }
  return passes;
}

/** Map a detection from tile-normalised coordinates to frame pixels, or null if outside the tile's core. */
export function tileToFrame(box: FaceBox, pass: Pass, tile: Tile, tileSize: number): FaceBox | null {
  const cx = tile.x + ((box.x0 + box.x1) / 2) * tileSize;
  const cy = tile.y + ((box.y0 + box.y1) / 2) * tileSize;
  const { core } = tile;
  if (cx < core.x0 || cx >= core.x1 || cy < core.y0 || cy >= core.y1) return null;
  // Padding beyond the scaled image is grey; a centre there is not a face in the frame.
  if (cx < 0 || cy < 0 || cx >= pass.width || cy >= pass.height) return null;
  return {
    x0: (tile.x + box.x0 * tileSize) / pass.scaleX,
    y0: (tile.y + box.y0 * tileSize) / pass.scaleY,
    x1: (tile.x + box.x1 * tileSize) / pass.scaleX,
    y1: (tile.y + box.y1 * tileSize) / pass.scaleY,
    score: box.score,
  };
}
