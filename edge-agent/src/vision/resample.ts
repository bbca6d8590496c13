/**
 * Cut one model input out of a decoded RGB image: bilinear sampling straight into the
 * uint8 NHWC buffer the model takes (normalisation runs inside the model, see flex-model.ts).
 *
 * Bilinear, without a prefilter, is how MediaPipe itself feeds BlazeFace. Measured on this
 * project's 2-core VM, it is the cheapest option that keeps the accuracy tests: an
 * area-averaging resampler in JS touches every source pixel (~60 ms a 1080p frame), and
 * one sharp pipeline per band costs 3-6 ms each.
 */

export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

/** Where a pass's scaled image lies in the source image. */
export interface SourceMap {
  /** Source pixels per scaled-image pixel, per axis. */
  stepX: number;
  stepY: number;
  /** Source row of the scaled image's top edge. */
  top: number;
}

/** Mid-grey: 0 after the model's x/127.5 - 1. */
export const PAD_VALUE = 128;

const FRAC = 256;
const HALF = (FRAC * FRAC) / 2;

/**
 * Fill `dst` (dstW x dstH x 3) with scaled-image pixels [x, x+dstW) x [y, y+dstH), of an
 * image `contentW` x `contentH` mapped onto `img` by `map`; outside the content is grey.
 */
export function sampleTile(
  dst: Uint8Array,
  dstW: number,
  dstH: number,
  img: RgbImage,
  map: SourceMap,
  x: number,
  y: number,
  contentW: number,
  contentH: number,
): void {
  if (dst.length < dstW * dstH * 3) throw new RangeError('tile buffer too small');
  const outW = Math.max(0, Math.min(dstW, contentW - x));
  const outH = Math.max(0, Math.min(dstH, contentH - y));
  const srcW = img.width;
  const srcH = img.height;
  const src = img.data;
  const row = srcW * 3;
  // Per output column: left source pixel (as a byte offset) and the right one's weight.
  const xi = new Int32Array(outW);
  const xr = new Int32Array(outW);
  const xf = new Int32Array(outW);
  for (let u = 0; u < outW; u++) {
    const sx = Math.min(srcW - 1, Math.max(0, (x + u + 0.5) * map.stepX - 0.5));
    const i = Math.floor(sx);
    xi[u] = i * 3;
    xr[u] = Math.min(srcW - 1, i + 1) * 3;
    xf[u] = Math.round((sx - i) * FRAC);
  }
  for (let v = 0; v < outH; v++) {
    const sy = Math.min(srcH - 1, Math.max(0, map.top + (y + v + 0.5) * map.stepY - 0.5));
    const j = Math.floor(sy);
    const fy = Math.round((sy - j) * FRAC);
    const gy = FRAC - fy;
    const r0 = j * row;
    const r1 = Math.min(srcH - 1, j + 1) * row;
    let o = v * dstW * 3;
    for (let u = 0; u < outW; u++) {
      const fx = xf[u]!;
      const gx = FRAC - fx;
      const a0 = r0 + xi[u]!;
      const b0 = r0 + xr[u]!;
      const a1 = r1 + xi[u]!;
      const b1 = r1 + xr[u]!;
      // Channels unrolled: this loop is most of the sampling time.
      dst[o] = ((src[a0]! * gx + src[b0]! * fx) * gy + (src[a1]! * gx + src[b1]! * fx) * fy + HALF) >> 16;
      dst[o + 1] = ((src[a0 + 1]! * gx + src[b0 + 1]! * fx) * gy + (src[a1 + 1]! * gx + src[b1 + 1]! * fx) * fy + HALF) >> 16;
      dst[o + 2] = ((src[a0 + 2]! * gx + src[b0 + 2]! * fx) * gy + (src[a1 + 2]! * gx + src[b1 + 2]! * fx) * fy + HALF) >> 16;
      o += 3;
    }
    if (outW < dstW) dst.fill(PAD_VALUE, o, (v + 1) * dstW * 3);
  }
  if (outH < dstH) dst.fill(PAD_VALUE, outH * dstW * 3, dstH * dstW * 3);
}
