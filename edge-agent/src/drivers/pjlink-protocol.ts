/**
 * PJLink codec for the driver: the greeting, the authentication digest, command lines,
 * answer lines, and what each PJLink query means in SchoolOps metric names. Pure
 * functions and tables, no sockets (pjlink.ts owns those).
 *
 * PJLink (JBMIA, class 1 and class 2) is line based ASCII over TCP 4352. The device
 * greets with "PJLINK 0" (no authentication) or "PJLINK 1 <random>"; with authentication
 * the first command carries MD5(random + password) in hex in front of it. A command is
 * "%<class><BODY> <param>" and its answer "%<class><BODY>=<value>"; a query's param is
 * "?". Errors are answers too: ERR1..ERR4, and "PJLINK ERRA" for a wrong password.
 *
 * Which queries a poll sends is data: the profile lists metrics, and a query is only sent
 * when one of its metrics is in the profile (a display without a lamp simply has no
 * lampHours metric, so LAMP is never asked).
 */
import { createHash } from 'node:crypto';
import type { MetricValue, MetricValues } from '@schoolops/device-profiles';
import { DriverError } from './types.ts';

export const PJLINK_PORT = 4352;

/** Longest line PJLink allows: '%', class, 4-character body, separator, 128-byte parameter, CR. */
export const MAX_LINE_BYTES = 136;

export type PjlinkClass = 1 | 2;

/** A line, shortened and quoted for an error detail (a device may send anything). */
export function quote(line: string): string {
  return JSON.stringify(line.length > 40 ? `${line.slice(0, 40)}…` : line);
}

export type Greeting = { auth: false } | { auth: true; random: string };

export function parseGreeting(line: string): Greeting {
  if (/^PJLINK 0$/i.test(line)) return { auth: false };
  // The spec's random number is 8 characters; accept a little more so an odd firmware still works.
  const auth = /^PJLINK 1 ([0-9A-Za-z]{4,32})$/i.exec(line);
  if (auth) return { auth: true, random: auth[1]! };
  if (/^PJLINK ERRA$/i.test(line)) throw new DriverError('auth_failed', 'the device refused the connection (PJLINK ERRA)');
  throw new DriverError('protocol_error', `not a PJLink greeting: ${quote(line)}`);
}

/** The spec's digest: MD5 over the random sequence followed directly by the password (no separator). */
export function authDigest(random: string, password: string): string {
  return createHash('md5').update(random + password, 'utf8').digest('hex');
}

export function encodeCommand(cls: PjlinkClass, body: string, param: string): string {
  return `%${cls}${body} ${param}\r`;
}

export const ERROR_MEANINGS = {
  ERR1: 'undefined command',
  ERR2: 'parameter out of range',
  ERR3: 'unavailable at this time',
  ERR4: 'projector/display failure',
} as const;
export type PjlinkErrorCode = keyof typeof ERROR_MEANINGS;

export type Answer = { ok: true; value: string } | { ok: false; error: PjlinkErrorCode };

const isErrorCode = (value: string): value is PjlinkErrorCode => Object.hasOwn(ERROR_MEANINGS, value);

/**
 * Parse the answer to `%<cls><body> ...`. A wrong password throws auth_failed; anything
 * that is not this command's answer throws protocol_error; ERR1..ERR4 are returned, since
 * what they mean depends on what was asked.
 */
export function parseAnswer(line: string, cls: PjlinkClass, body: string): Answer {
  if (/^PJLINK ERRA$/i.test(line)) throw new DriverError('auth_failed', 'the device refused the PJLink password (ERRA)');
  const match = /^%([0-9])([A-Za-z0-9]{4})=(.*)$/s.exec(line);
  if (!match) throw new DriverError('protocol_error', `not a PJLink answer to %${cls}${body}: ${quote(line)}`);
  const [, answerClass, answerBody, value] = match as unknown as [string, string, string, string];
  if (answerClass !== String(cls) || answerBody.toUpperCase() !== body)
    throw new DriverError('protocol_error', `answer for %${answerClass}${answerBody} while waiting for %${cls}${body}`);
  // U+FFFD: bytes that were not UTF-8. Control characters never belong in a PJLink value.
  if (/[\u0000-\u001f\u007f\ufffd]/.test(value))
    throw new DriverError('protocol_error', `%${cls}${body} answer has control or undecodable bytes: ${quote(value)}`);
  const upper = value.toUpperCase();
  if (upper === 'ERRA') throw new DriverError('auth_failed', `the device refused the PJLink password (%${cls}${body}=ERRA)`);
  if (isErrorCode(upper)) return { ok: false, error: upper };
  return { ok: true, value };
}

// ---------------------------------------------------------------------------------------
// Queries and the metrics they give
// ---------------------------------------------------------------------------------------

export interface PjlinkQuery {
  body: string;
  /** The class that defines the query; class 2 queries are only sent to a device that answers CLSS with 2. */
  cls: PjlinkClass;
  /** Class 2 redefines this class 1 query with more values (INPT: inputs 6x and 1-9A-Z): ask %2 when the device can. */
  class2Variant?: boolean;
  /** Identity (name, serial number...): read once per device, not on every poll. */
  fixed?: boolean;
  metrics: readonly string[];
  /** The value of a successful answer as metrics; throws protocol_error when it is malformed. */
  decode(value: string): MetricValues;
}

const malformed = (body: string, value: string) =>
  new DriverError('protocol_error', `malformed %${body} answer: ${quote(value)}`);

const POWER: Record<string, string> = { '0': 'off', '1': 'on', '2': 'cooling', '3': 'warming' };
const ERROR_LEVEL = ['ok', 'warning', 'error'] as const;
const ERST_METRICS = ['errorFan', 'errorLamp', 'errorTemperature', 'errorCover', 'errorFilter', 'errorOther'] as const;

/** Class 1 inputs: type 1-5 (RGB, VIDEO, DIGITAL, STORAGE, NETWORK), number 1-9. Class 2 adds type 6 (INTERNAL) and numbers A-Z. */
export const CLASS1_INPUT = /^[1-5][1-9]$/;
export const CLASS2_INPUT = /^[1-6][1-9A-Z]$/;

function text(metric: string): PjlinkQuery['decode'] {
  return (value) => ({ [metric]: value.trimEnd() });
}

function hours(body: string, value: string): number {
  if (!/^\d{1,5}$/.test(value)) throw malformed(body, value);
  return Number(value);
}

export const PJLINK_QUERIES: readonly PjlinkQuery[] = [
  {
    body: 'POWR',
    cls: 1,
    metrics: ['power'],
    decode(value) {
      const power = POWER[value];
      if (!power) throw malformed('POWR', value);
      return { power };
    },
  },
  {
    body: 'INPT',
    cls: 1,
    class2Variant: true,
    metrics: ['input'],
    decode(value) {
      const input = value.toUpperCase();
      if (!CLASS2_INPUT.test(input)) throw malformed('INPT', value);
      return { input };
    },
  },
  {
    body: 'AVMT',
    cls: 1,
    metrics: ['avMute'],
    // 11 picture muted, 21 sound muted, 31 both, 30 neither: any mute counts, as the room sees or hears nothing.
    decode(value) {
      if (!/^[123][01]$/.test(value)) throw malformed('AVMT', value);
      return { avMute: value[1] === '1' };
    },
  },
  {
    body: 'ERST',
    cls: 1,
    metrics: ERST_METRICS,
    decode(value) {
      if (!/^[0-2]{6}$/.test(value)) throw malformed('ERST', value);
      const values: MetricValues = {};
      ERST_METRICS.forEach((metric, i) => (values[metric] = ERROR_LEVEL[Number(value[i])]!));
      return values;
    },
  },
  {
    body: 'LAMP',
    cls: 1,
    metrics: ['lampHours', 'lampOn'],
    // "hours on/off" per lamp, up to 8 lamps; the first lamp is the one a profile reports.
    decode(value) {
      if (!/^\d{1,5} [01]( \d{1,5} [01]){0,7}$/.test(value)) throw malformed('LAMP', value);
      const [first, on] = value.split(' ');
      return { lampHours: Number(first), lampOn: on === '1' };
    },
  },
  { body: 'NAME', cls: 1, fixed: true, metrics: ['deviceName'], decode: text('deviceName') },
  { body: 'INF1', cls: 1, fixed: true, metrics: ['manufacturer'], decode: text('manufacturer') },
  { body: 'INF2', cls: 1, fixed: true, metrics: ['productName'], decode: text('productName') },
  { body: 'INFO', cls: 1, fixed: true, metrics: ['otherInfo'], decode: text('otherInfo') },
  { body: 'SNUM', cls: 2, fixed: true, metrics: ['serialNumber'], decode: text('serialNumber') },
  { body: 'SVER', cls: 2, fixed: true, metrics: ['softwareVersion'], decode: text('softwareVersion') },
  { body: 'RLMP', cls: 2, fixed: true, metrics: ['lampModel'], decode: text('lampModel') },
  { body: 'RFIL', cls: 2, fixed: true, metrics: ['filterModel'], decode: text('filterModel') },
  { body: 'FILT', cls: 2, metrics: ['filterHours'], decode: (value) => ({ filterHours: hours('FILT', value) }) },
  {
    body: 'FREZ',
    cls: 2,
    metrics: ['freeze'],
    decode(value) {
      if (value !== '0' && value !== '1') throw malformed('FREZ', value);
      return { freeze: value === '1' };
    },
  },
];

/** Every metric name a PJLink query can fill. */
export const PJLINK_METRICS: ReadonlySet<string> = new Set(PJLINK_QUERIES.flatMap((q) => q.metrics));

/** The queries worth sending for a profile with these metrics, in poll order. */
export function queriesFor(metrics: ReadonlySet<string>): PjlinkQuery[] {
  return PJLINK_QUERIES.filter((q) => q.metrics.some((m) => metrics.has(m)));
}

export function parseClass(value: string): number {
  if (!/^[1-9]$/.test(value)) throw malformed('CLSS', value);
  return Number(value);
}

// ---------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------

export interface PjlinkSet {
  body: string;
  cls: PjlinkClass;
  param: string;
  class2Variant?: boolean;
  /** Only a class 2 device can do it (class 2 command, or an input code class 1 cannot name). */
  needsClass2?: boolean;
}

function param<T extends MetricValue>(params: Record<string, MetricValue>, name: string, type: string): T {
  const value = params[name];
  if (typeof value !== type) throw new DriverError('protocol_error', `parameter "${name}" must be a ${type}, got ${JSON.stringify(value)}`);
  return value as T;
}

/** The PJLink line for a profile command; bad parameters never reach the device. */
export function commandFor(name: string, params: Record<string, MetricValue>): PjlinkSet {
  switch (name) {
    case 'powerOn':
      return { body: 'POWR', cls: 1, param: '1' };
    case 'powerOff':
      return { body: 'POWR', cls: 1, param: '0' };
    case 'setInput': {
      const input = param<string>(params, 'input', 'string').toUpperCase();
      // Checked here, not left to the device: a CR in the value would inject a second command.
      if (!CLASS2_INPUT.test(input)) throw new DriverError('protocol_error', `"${input}" is not a PJLink input code (e.g. 31 = DIGITAL 1)`);
      return { body: 'INPT', cls: 1, param: input, class2Variant: true, needsClass2: !CLASS1_INPUT.test(input) };
    }
    case 'setAvMute':
      return { body: 'AVMT', cls: 1, param: param<boolean>(params, 'mute', 'boolean') ? '31' : '30' };
    case 'setFreeze':
      return { body: 'FREZ', cls: 2, param: param<boolean>(params, 'freeze', 'boolean') ? '1' : '0', needsClass2: true };
    default:
      throw new DriverError('protocol_error', `the PJLink driver has no command "${name}"`);
  }
}
