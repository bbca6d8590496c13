/**
 * `edge-agent count-faces [--min-face-px N] [--max-face-px N] [--roi-top F] <image>...`: lets
 * an installer check a camera's placement on the gateway itself, and try the face sizes to
 * put in the camera's `faces` option. Prints one JSON line per image: the count, frame size
 * and time (and the file, when several are given); never the boxes. The model loads once.
 * Exit code: 0 all counted, 2 for a usage error or if any file was unreadable or not an
 * image (the others are still counted).
 */
import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { FaceDetector, ImageDecodeError } from './detector.ts';
import { CLASSROOM_TILING, withFaceSizes, type FaceSizes } from './tiling.ts';

const USAGE = `usage: edge-agent count-faces [--min-face-px N] [--max-face-px N] [--roi-top F] <image file>...
  --min-face-px N  smallest face at the back row, in frame pixels (default ${CLASSROOM_TILING.minFacePx})
  --max-face-px N  largest face at the front row (default ${CLASSROOM_TILING.maxFacePx})
  --roi-top F      no faces above this fraction of the height (default ${CLASSROOM_TILING.perspective!.roiTop})
The same values go in the camera's options as "faces": { "minPx": N, "maxPx": N, "roiTop": F }.`;

function parse(args: readonly string[]): { files: string[]; faces: FaceSizes } | string {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      allowPositionals: true,
      options: { 'min-face-px': { type: 'string' }, 'max-face-px': { type: 'string' }, 'roi-top': { type: 'string' } },
    });
  } catch (error) {
    return (error as Error).message;
  }
  const faces: FaceSizes = {};
  const number = (flag: string, text: string | undefined): number | undefined | string => {
    if (text === undefined) return undefined;
    const v = Number(text);
    return text.trim() !== '' && Number.isFinite(v) ? v : `--${flag} must be a number, got "${text}"`;
  };
  for (const [flag, key] of [['min-face-px', 'minPx'], ['max-face-px', 'maxPx'], ['roi-top', 'roiTop']] as const) {
    const v = number(flag, parsed.values[flag]);
    if (typeof v === 'string') return v;
    if (v !== undefined) faces[key] = v;
  }
  try {
    withFaceSizes(CLASSROOM_TILING, faces);
  } catch (error) {
    return (error as Error).message;
  }
  if (parsed.positionals.length === 0) return 'no image file given';
  return { files: parsed.positionals, faces };
}

export async function countFacesCommand(args: readonly string[]): Promise<number> {
  const request = parse(args);
  if (typeof request === 'string') {
    console.error(`count-faces: ${request}\n${USAGE}`);
    return 2;
  }
  const { files, faces } = request;
  const many = files.length > 1;
  let detector: FaceDetector | undefined;
  let failed = 0;
  try {
    for (const file of files) {
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
        const r = await detector.count(bytes, faces);
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
