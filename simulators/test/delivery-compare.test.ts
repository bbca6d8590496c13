import { describe, expect, it } from 'vitest';
import { compareDelivery } from '../src/delivery/compare.ts';

describe('delivery comparison', () => {
  it('counts lost, duplicated, out-of-order and newer-than-counted samples per device', () => {
    const verdict = compareDelivery({ since: 0, devices: { a: 10, b: 5, c: 3, silent: 4 } }, [
      { deviceId: 'a', samples: 10, distinct: 10, minN: 1, maxN: 10, outOfOrder: 0 }, // perfect
      { deviceId: 'b', samples: 6, distinct: 4, minN: 1, maxN: 5, outOfOrder: 1 }, // 1 lost, 2 stored twice
      { deviceId: 'c', samples: 5, distinct: 5, minN: 1, maxN: 5, outOfOrder: 0 }, // 2 newer than the counts
    ], { b: 1 });
    expect(verdict.devices).toEqual([
      { deviceId: 'a', published: 10, stored: 10, lost: 0, duplicated: 0, outOfOrder: 0, unexpected: 0, dropped: 0 },
      { deviceId: 'b', published: 5, stored: 6, lost: 1, duplicated: 2, outOfOrder: 1, unexpected: 0, dropped: 1 },
      { deviceId: 'c', published: 3, stored: 5, lost: 0, duplicated: 0, outOfOrder: 0, unexpected: 2, dropped: 0 },
      { deviceId: 'silent', published: 4, stored: 0, lost: 4, duplicated: 0, outOfOrder: 0, unexpected: 0, dropped: 0 },
    ]);
    expect(verdict.totals).toEqual({ devices: 4, published: 22, stored: 21, lost: 5, duplicated: 2, outOfOrder: 1, unexpected: 2, dropped: 1 });
  });
});
