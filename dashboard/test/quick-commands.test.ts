import { describe, expect, it } from 'vitest';
import { toDeviceView } from '../web/api.ts';
import { quickCommands } from '../web/device-values.ts';

const device = (extra: Record<string, unknown>) => ({
  id: 'a.r101.proj',
  kind: 'display',
  name: { vi: 'Máy chiếu', en: 'Projector' },
  status: { state: 'ok', reason: null, detail: null, since: null },
  ...extra,
});

describe('the commands a device row offers', () => {
  it('are those the page can label that the device profile lists, parameterless ones only', () => {
    const view = toDeviceView(
      device({
        commands: [
          { name: 'powerOff', description: { vi: 'Tắt', en: 'Off' } },
          { name: 'setInput', description: { vi: 'Nguồn', en: 'Input' }, params: { input: { type: 'enum', values: ['11'] } } },
          { name: 7 },
        ],
      }),
    )!;
    // The malformed one is dropped; the one with a parameter is kept but is not a button.
    expect(view.commands.map((c) => c.name)).toEqual(['powerOff', 'setInput']);
    expect(quickCommands(view)).toEqual(['powerOff']);
  });

  it('are none when the profile lists none, whatever the kind offers elsewhere', () => {
    const view = toDeviceView(device({}))!;
    expect(view.commands).toEqual([]);
    expect(quickCommands(view)).toEqual([]);
  });
});
