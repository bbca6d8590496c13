/**
 * A disk that really fills up (ENOSPC), not just the quota: the queue must keep accepting,
 * drop the oldest telemetry, report exactly what it dropped, and stay consistent on disk.
 * Uses a small tmpfs, which needs root (as on the project's machines and in CI).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TelemetryBatch } from '@schoolops/device-profiles';
import { DiskOutbox } from '../src/outbox.ts';

describe('disk queue on a full disk', () => {
  const mountPoint = mkdtempSync(join(tmpdir(), 'tiny-disk-'));
  beforeAll(() => {
    if (process.getuid?.() !== 0) throw new Error('this test mounts a tmpfs and needs root');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mountPoint]);
  });
  afterAll(() => {
    try {
      execFileSync('umount', ['-l', mountPoint]); // lazy: a failed test may still hold the database open
    } finally {
      rmSync(mountPoint, { recursive: true, force: true });
    }
  });

  it('keeps accepting, drops the oldest telemetry, and reports exactly what it dropped', async () => {
    const dir = join(mountPoint, 'queue');
    const logger = pino({ level: 'silent' });
    // A quota far above the disk: only ENOSPC can stop the writes.
    let outbox = await DiskOutbox.open({ dir, quotaBytes: 1024 ** 3, logger });
    const batches = 2_000;
    for (let seq = 0; seq < batches; seq++) {
      const batch: TelemetryBatch = {
        v: 1,
        gatewayId: 'gw',
        schoolId: 's',
        bootId: 'boot-full-disk',
        seq,
        sentAt: 0,
        readings: Array.from({ length: 20 }, (_, i) => ({ deviceId: `d${i}`, ts: 1e12 + seq * 20 + i, values: { x: seq, note: 'y'.repeat(200) } })),
      };
      await outbox.append(batch, true); // must never throw
    }
    const written = batches * 20;
    expect(outbox.droppedReadings, 'the disk filled, so something was dropped').toBeGreaterThan(0);
    expect(outbox.size.readings + outbox.droppedReadings).toBe(written);
    const gaps = outbox.pendingEvents();
    const reported = gaps.flatMap((e) => (e.type === 'telemetry-gap' ? Object.values(e.dropped) : [])).reduce((a, b) => a + b, 0);
    expect(reported).toBe(outbox.droppedReadings);
    // The newest batches are the ones kept.
    expect([...outbox.queued()].at(-1)!.batch.seq).toBe(batches - 1);

    const kept = outbox.size;
    await outbox.close();
    outbox = await DiskOutbox.open({ dir, quotaBytes: 1024 ** 3, logger });
    expect(outbox.size).toEqual(kept);
    expect(outbox.pendingEvents()).toHaveLength(gaps.length);
    await outbox.close();
  }, 120_000);
});
