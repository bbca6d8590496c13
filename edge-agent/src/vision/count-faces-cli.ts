/**
 * `edge-agent count-faces <image>...`: lets an installer check a camera's placement on the
 * gateway itself. Prints one JSON line per image: the count, frame size and time (and the
 * file, when several are given); never the boxes. The model loads once for all of them.
 * Exit code: 0 all counted, 2 if any file was unreadable or not an image (the others are
 * still counted).
 */
import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { FaceDetector, ImageDecodeError } from './detector.ts';

export async function countFacesCommand(args: readonly string[]): Promise<number> {
  if (args.length === 0 || args.some((a) => a.startsWith('-'))) {
    console.error('usage: edge-agent count-faces <image file>...');
    return 2;
  }
  const many = args.length > 1;
  let detector: FaceDetector | undefined;
  let failed = 0;
  try {
    for (const file of args) {
      let bytes: Buffer;
      try {
        bytes = await readFile(file);
      } catch (error) {
        console.error(`count-faces: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
        failed++;
        continue;
      }
      const t0 = performance.now();
      detector ??= await FaceDetector.create();
      try {
        const r = await detector.count(bytes);
        const ms = Math.round(performance.now() - t0);
        const line = { ...(many ? { file } : {}), faces: r.faces, width: r.width, height: r.height, ms };
        console.log(JSON.stringify(line));
      } catch (error) {
        if (!(error instanceof ImageDecodeError)) throw error;
        console.error(`count-faces: ${file} is not a readable image (${error.message})`);
        failed++;
      }
    }
  } finally {
    await detector?.release();
  }
  return failed > 0 ? 2 : 0;
}
