/**
 * A camera's own face sizes (its `faces` option, count-faces' flags): checked, applied to the
 * tile plan, and worth it: a camera whose faces are bigger than the default plan assumes is
 * counted as well with far fewer model pixels.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaceDetector } from '../../src/vision/detector.ts';
import { CLASSROOM_TILING, planTiles, withFaceSizes } from '../../src/vision/tiling.ts';
import { composeClassroom, score } from './scene.ts';

const units = (tiling: typeof CLASSROOM_TILING) =>
  planTiles(1920, 1080, { ...tiling, align: 32 })
    .flatMap((p) => p.tiles)
    .reduce((n, t) => n + t.width * t.height, 0) / 65536;

describe("a camera's face sizes", () => {
  it('leave the default plan alone when unset, and apply what is set', () => {
    expect(withFaceSizes(CLASSROOM_TILING, undefined)).toBe(CLASSROOM_TILING);
    expect(withFaceSizes(CLASSROOM_TILING, {})).toBe(CLASSROOM_TILING);
    const t = withFaceSizes(CLASSROOM_TILING, { minPx: 30, maxPx: 90, roiTop: 0.3 });
    expect([t.minFacePx, t.maxFacePx, t.perspective?.roiTop]).toEqual([30, 90, 0.3]);
    // A larger smallest face alone keeps the largest at least as large.
    expect(withFaceSizes(CLASSROOM_TILING, { minPx: 80 }).maxFacePx).toBe(80);
  });

  it('refuse sizes that cannot be meant', () => {
    for (const bad of [{ minPx: 2 }, { minPx: Number.NaN }, { maxPx: 5000 }, { roiTop: 0.95 }, { roiTop: -0.1 }, { minPx: 40, maxPx: 30 }]) {
      expect(() => withFaceSizes(CLASSROOM_TILING, bad), JSON.stringify(bad)).toThrow(RangeError);
    }
  });

  it('cost fewer model pixels for bigger faces, more for smaller ones', () => {
    const base = units(CLASSROOM_TILING);
    const bigger = units(withFaceSizes(CLASSROOM_TILING, { minPx: 30, maxPx: 90 }));
    const smaller = units(withFaceSizes(CLASSROOM_TILING, { minPx: 15, maxPx: 45 }));
    console.log(`1080p model units: default ${base.toFixed(2)}, faces 30-90 px ${bigger.toFixed(2)}, faces 15-45 px ${smaller.toFixed(2)}`);
    expect(bigger).toBeLessThan(base * 0.7);
    expect(smaller).toBeGreaterThan(base);
  });

  describe('counting with them', () => {
    let detector: FaceDetector;
    beforeAll(async () => {
      detector = await FaceDetector.create();
    });
    afterAll(async () => {
      await detector?.release();
    });

    it('counts a room of bigger faces as well with the cheaper plan', async () => {
      const scene = await composeClassroom({ faces: 36, seed: 21, minFace: 30, maxFace: 90 });
      const r = await detector.detect(scene.jpeg, { minPx: 30, maxPx: 90 });
      const s = score(scene.truth, r.boxes);
      console.log(`scene 36 faces 30-90 px with faces {minPx 30, maxPx 90}: recall ${(100 * s.recall).toFixed(1)}%, precision ${(100 * s.precision).toFixed(1)}%`);
      expect(s.recall).toBeGreaterThanOrEqual(0.9);
      expect(s.precision).toBeGreaterThanOrEqual(0.95);
    });

    it('rejects bad sizes before touching the image', async () => {
      await expect(detector.count(Buffer.from('not even an image'), { minPx: 1 })).rejects.toThrow(RangeError);
    });
  });
});
