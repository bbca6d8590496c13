import { describe, expect, it } from 'vitest';
import { presetDates } from '../web/report.ts';

const VN = 'Asia/Ho_Chi_Minh';

describe('report presets', () => {
  // Wednesday 12 March 2025, 08:00 in Hà Nội (01:00 UTC).
  const now = Date.parse('2025-03-12T01:00:00Z');
  it('count weeks from Monday and months from the 1st, on the district clock', () => {
    expect(presetDates('this-week', now, VN)).toEqual({ from: '2025-03-10', to: '2025-03-16' });
    expect(presetDates('last-week', now, VN)).toEqual({ from: '2025-03-03', to: '2025-03-09' });
    expect(presetDates('this-month', now, VN)).toEqual({ from: '2025-03-01', to: '2025-03-31' });
    expect(presetDates('last-month', now, VN)).toEqual({ from: '2025-02-01', to: '2025-02-28' });
    // 23:30 UTC on a Sunday is already Monday in Hà Nội: a new week there.
    expect(presetDates('this-week', Date.parse('2025-03-16T23:30:00Z'), VN)).toEqual({ from: '2025-03-17', to: '2025-03-23' });
    expect(presetDates('last-month', Date.parse('2025-01-05T03:00:00Z'), VN)).toEqual({ from: '2024-12-01', to: '2024-12-31' });
  });
});
