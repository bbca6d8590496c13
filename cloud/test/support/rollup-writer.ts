/**
 * The process storage-rollups.test.ts kills: `node --import tsx rollup-writer.ts FILE` writes
 * batch after batch (10 simulated minutes each, always the same rows for the same batch
 * number), maintains after every third, and prints how many batches it has written, until
 * it is killed. Imported, it only lends the test its batches.
 */
import { pathToFileURL } from 'node:url';
import type { StoredRow } from '../../src/storage/index.ts';
import { MIN, deviceRows, rng } from './rollup-data.ts';

export const WRITER_T0 = Date.UTC(2026, 10, 2, 0, 0, 0);

/** Batch i: the readings of [T0 + 10 i min, T0 + 10 (i + 1) min). */
export function writerBatch(i: number): StoredRow[] {
  const from = WRITER_T0 + i * 10 * MIN;
  return deviceRows(from, from + 10 * MIN, rng(1000 + i));
}

/** Rows in every batch (the window is aligned with every report interval). */
export const WRITER_BATCH = writerBatch(0).length;

async function main(file: string): Promise<void> {
  const { openDuckDbStore } = await import('../../src/storage/duckdb-store.ts');
  const store = await openDuckDbStore({ file, rollupEveryMs: 0, rollupFanIn: { '1m': 3, '15m': 2, '1h': 2 }, now: () => WRITER_T0 });
  for (let i = 0; i < 280; i++) {
    await store.write(writerBatch(i));
    process.stdout.write(`${i + 1}\n`);
    if (i % 3 === 2) await store.maintain();
  }
  await store.close();
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv[2]!).catch((err: unknown) => {
    process.stderr.write(`${String((err as Error).stack ?? err)}\n`);
    process.exit(1);
  });
}
