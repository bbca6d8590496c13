/**
 * BlazeFace anchor layout (both the 256 "back" and the 128 "front" model).
 *
 * At the model's native square input the 896 candidates come in two output layers: a 16x16
 * grid with 2 anchors per cell (512) and an 8x8 grid with 6 anchors per cell (384). The
 * network is fully convolutional, so at another input size each layer keeps its stride (in
 * input pixels) and its grid grows with the input. Anchors have a fixed unit size, so only
 * their centres matter: the regressors are offsets in input pixels from the centre.
 */

export interface AnchorLayer {
  /** Cells per side at the model's native input size. */
  readonly cells: number;
  /** Anchors stacked on each cell. */
  readonly perCell: number;
}

export const BLAZEFACE_LAYERS: readonly [AnchorLayer, AnchorLayer] = [
  { cells: 16, perCell: 2 },
  { cells: 8, perCell: 6 },
];

export interface LayerGrid {
  cols: number;
  rows: number;
  /** Input pixels per cell. */
  stride: number;
  perCell: number;
}

/** Input sides must be multiples of this (the coarsest layer's stride). */
export function inputAlignment(nativeSide: number): number {
  return nativeSide / Math.min(...BLAZEFACE_LAYERS.map((l) => l.cells));
}

/** A layer's grid for a width x height input (both multiples of `inputAlignment`). */
export function layerGrid(layer: AnchorLayer, nativeSide: number, width: number, height: number): LayerGrid {
  const stride = nativeSide / layer.cells;
  if (width % stride !== 0 || height % stride !== 0) throw new RangeError(`input ${width}x${height} is not a multiple of ${stride}`);
  return { cols: width / stride, rows: height / stride, stride, perCell: layer.perCell };
}

/** Anchor centre of output index i, in input pixels. Output order: row, column, anchor. */
export function anchorCenter(grid: LayerGrid, i: number): { x: number; y: number } {
  const cell = Math.floor(i / grid.perCell);
  const col = cell % grid.cols;
  const row = Math.floor(cell / grid.cols);
  return { x: (col + 0.5) * grid.stride, y: (row + 0.5) * grid.stride };
}
