/**
 * BlazeFace anchor layout (both the 256 "back" and the 128 "front" model).
 *
 * The model emits 896 candidates in two output layers: a 16x16 grid with 2 anchors per
 * cell (512) and an 8x8 grid with 6 anchors per cell (384). Anchors have a fixed unit size,
 * so only their centres matter: the regressors are offsets in input pixels from the centre.
 */

export interface AnchorLayer {
  /** Cells per row (and per column) of this layer's square grid. */
  readonly cells: number;
  /** Anchors stacked on each cell. */
  readonly perCell: number;
}

export const BLAZEFACE_LAYERS: readonly [AnchorLayer, AnchorLayer] = [
  { cells: 16, perCell: 2 },
  { cells: 8, perCell: 6 },
];

/** Anchor centres of one layer, normalised to [0,1], interleaved x,y, in output order. */
export function anchorCenters(layer: AnchorLayer): Float32Array {
  const out = new Float32Array(layer.cells * layer.cells * layer.perCell * 2);
  let i = 0;
  for (let row = 0; row < layer.cells; row++) {
    for (let col = 0; col < layer.cells; col++) {
      for (let a = 0; a < layer.perCell; a++) {
        out[i++] = (col + 0.5) / layer.cells;
        out[i++] = (row + 0.5) / layer.cells;
      }
    }
  }
  return out;
}
