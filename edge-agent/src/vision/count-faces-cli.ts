/**
 * `edge-agent count-faces <image>`: lets an installer check a camera's placement on the
 * gateway itself. Prints the count (and frame size and time) as one JSON line; never
 * the boxes. Returns the process exit code: 0 counted, 2 unreadable or not an image.
 */
import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { FaceDetector, ImageDecodeError } from './detector.ts';

export async function countFacesCommand(args: readonly string[]): Promise<number> {
  const file = args[0];
  if (!file || args.length > 1) {
    console.error('usage: edge-agent count-faces <image file>');
    return 2;
  }
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    console.error(`count-faces: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    return 2;
  }
  const t0 = performance.now();
  const detector = await FaceDetector.create();
  try {
    const r = await detector.count(bytes);
    const ms = Math.round(performance.now() - t0);
    console.log(JSON.stringify({ faces: r.faces, width: r.width, height: r.height, ms }));
    return 0;
  } catch (error) {
    if (error instanceof ImageDecodeError) {
      console.error(`count-faces: ${file} is not a readable image (${error.message})`);
      return 2;
    }
    throw error;
  } finally {
    await detector.release();
  }
}
