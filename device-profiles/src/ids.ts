/**
 * Identity: district -> school -> room -> device.
 *
 * Ids are stable, URL-safe and MQTT-safe: lower-case letters, digits, '.', '_' and '-'
 * (never '/', '+', '#' or spaces), so they can stand as one topic level and one URL
 * path segment without escaping. Device ids are unique across the whole district.
 */
import { Type, type Static } from '@sinclair/typebox';

export const ID_PATTERN = '^[a-z0-9][a-z0-9._-]{0,95}$';
const idRegex = new RegExp(ID_PATTERN);

export const Id = Type.String({ pattern: ID_PATTERN, description: 'URL- and MQTT-safe id' });
export type Id = Static<typeof Id>;

export function isId(value: unknown): value is string {
  return typeof value === 'string' && idRegex.test(value);
}

/** Human names travel in Vietnamese first, English second. */
export const LocalizedText = Type.Object(
  { vi: Type.String({ minLength: 1 }), en: Type.String({ minLength: 1 }) },
  { additionalProperties: false },
);
export type LocalizedText = Static<typeof LocalizedText>;
