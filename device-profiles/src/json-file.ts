/**
 * Read a JSON file and check it against a schema, failing with one line that names the
 * file, the JSON path and the reason, e.g. "gateway.json: /district/url: must match pattern".
 * Every config and record file in SchoolOps is loaded through here.
 */
import { readFileSync } from 'node:fs';
import type { Static, TSchema } from '@sinclair/typebox';
import { check } from './wire.ts';

export class FileError extends Error {
  override name = 'FileError';
}

/** Check an already-parsed value; `source` names it in the error (usually the file). */
export function checkOrThrow<S extends TSchema>(schema: S, value: unknown, source: string): Static<S> {
  const result = check(schema, value);
  if (!result.ok) throw new FileError(`${source}: ${result.path || '/'}: ${result.message}`);
  return result.value;
}

export function readJsonFile(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new FileError(`${file}: ${(error as Error).message}`);
  }
}

export function loadJsonFile<S extends TSchema>(schema: S, file: string): Static<S> {
  return checkOrThrow(schema, readJsonFile(file), file);
}
