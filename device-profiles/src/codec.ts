/**
 * JSON payloads on the wire: parse and validate (decode), serialise (encode). Node-side
 * (Buffer); the schemas and `check` they use are in wire.ts, which the browser may import.
 */
import type { Static, TSchema } from '@sinclair/typebox';
import { check, type Checked } from './wire.ts';

/** Parse a JSON payload and validate it; malformed JSON is reported as such. */
export function decode<S extends TSchema>(
  schema: S,
  payload: Uint8Array | string,
): Checked<Static<S>> | { ok: false; path: ''; message: string; malformed: true } {
  let value: unknown;
  try {
    value = JSON.parse(typeof payload === 'string' ? payload : Buffer.from(payload).toString('utf8'));
  } catch (error) {
    return { ok: false, path: '', message: `malformed JSON: ${(error as Error).message}`, malformed: true };
  }
  return check(schema, value);
}

export function encode(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}
