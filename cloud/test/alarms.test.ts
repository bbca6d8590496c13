import { describe, expect, it } from 'vitest';
import { loadProfiles } from '@schoolops/device-profiles';
import { AlarmBook } from '../src/alarms.ts';

const profiles = loadProfiles();
const projector = profiles.get('epson-eb-x51')!;
const lab = profiles.get('schoolops-lab-controller')!;
const S = 1000;

describe('AlarmBook', () => {
  it('raises an eq rule at once and clears it when the value changes', () => {
    const book = new AlarmBook();
    expect(book.apply('p', projector, 1 * S, { errorLamp: 'ok' }).raised).toEqual([]);
    const { raised } = book.apply('p', projector, 2 * S, { errorLamp: 'error' });
    expect(raised).toMatchObject([{ ruleId: 'lamp-error', severity: 'critical', since: 2 * S, value: 'error' }]);
    expect(book.active('p', projector).map((a) => a.ruleId)).toEqual(['lamp-error']);
    // A sample without the metric says nothing about the rule.
    book.apply('p', projector, 3 * S, { power: 'off' });
    expect(book.active('p', projector)).toHaveLength(1);
    expect(book.apply('p', projector, 4 * S, { errorLamp: 'ok' }).cleared).toEqual(['lamp-error']);
    expect(book.active('p', projector)).toEqual([]);
  });

  it('clears a gt rule only past its clear level (hysteresis)', () => {
    const book = new AlarmBook();
    book.apply('p', projector, 1 * S, { lampHours: 4501 });
    expect(book.active('p', projector).map((a) => a.ruleId)).toEqual(['lamp-end-of-life']);
    book.apply('p', projector, 2 * S, { lampHours: 4450 }); // below the threshold, above clear
    expect(book.active('p', projector)).toHaveLength(1);
    expect(book.apply('p', projector, 3 * S, { lampHours: 120 }).cleared).toEqual(['lamp-end-of-life']); // lamp replaced
  });

  it('waits for forSeconds of sample time before raising, and forgets a condition that let go', () => {
    const book = new AlarmBook();
    // fridge-warm: > 8 °C for 300 s.
    book.apply('f', lab, 0, { fridgeTemperature: 9 });
    book.apply('f', lab, 200 * S, { fridgeTemperature: 9.5 });
    expect(book.active('f', lab)).toEqual([]);
    book.apply('f', lab, 250 * S, { fridgeTemperature: 5 }); // door closed: starts over
    book.apply('f', lab, 300 * S, { fridgeTemperature: 9 });
    book.apply('f', lab, 550 * S, { fridgeTemperature: 9 });
    expect(book.active('f', lab)).toEqual([]);
    const { raised } = book.apply('f', lab, 600 * S, { fridgeTemperature: 10 });
    expect(raised).toMatchObject([{ ruleId: 'fridge-warm', since: 300 * S, value: 10 }]);
    // A late sample from before does not move the state back.
    book.apply('f', lab, 100 * S, { fridgeTemperature: 4 });
    expect(book.active('f', lab)).toHaveLength(1);
  });
});
