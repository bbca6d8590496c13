/**
 * The packet generator of the MQTT fuzzing benchmark (fuzz.ts): a seeded PRNG, an MQTT 3.1.1
 * encoder that encodes whatever it is given (wrong flags, bad UTF-8, lengths that lie), valid
 * packets of every type, mutations of them, and fuzz sessions (what one connection does).
 *
 * Everything is a pure function of the seed: session k of a seed is the same bytes on every
 * run whichever connection runs it, so a crash can be replayed (fuzz.ts --replay k).
 * Nothing here throws for any seed: a "mutation" is whatever bytes it makes, parseable or not.
 */

// ---------------------------------------------------------------------------------------
// PRNG
// ---------------------------------------------------------------------------------------

/** sfc32, seeded through splitmix32 from (seed, stream): independent streams of one seed. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number, stream = 0) {
    let state = (seed >>> 0) ^ Math.imul((stream >>> 0) ^ 0x5bd1e995, 0x9e3779b1);
    const split = () => {
      state = (state + 0x9e3779b9) >>> 0;
      let z = state ^ Math.floor(stream / 2 ** 32);
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = split();
    this.b = split();
    this.c = split();
    this.d = split() | 1;
    for (let i = 0; i < 12; i++) this.u32();
  }

  u32(): number {
    const t0 = (this.a + this.b) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.d = (this.d + 1) | 0;
    const t = (t0 + this.d) | 0;
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** [0, 1) */
  float(): number {
    return this.u32() / 2 ** 32;
  }

  /** An integer in [0, n) (0 when n <= 0). */
  int(n: number): number {
    return n <= 0 ? 0 : Math.floor(this.float() * n);
  }

  /** An integer in [min, max], both included. */
  range(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }

  /** An integer in [min, max], log-uniformly: small values as likely as large orders of magnitude. */
  logRange(min: number, max: number): number {
    const lo = Math.log(Math.max(1, min));
    const hi = Math.log(Math.max(1, max) + 1);
    return Math.min(max, Math.max(min, Math.floor(Math.exp(lo + this.float() * (hi - lo)))));
  }

  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[this.int(items.length)]!;
  }

  /** A key of `weights`, with probability proportional to its weight. */
  weighted<K extends string>(weights: Readonly<Record<K, number>>): K {
    const entries = Object.entries(weights) as [K, number][];
    const total = entries.reduce((sum, [, w]) => sum + w, 0);
    let x = this.float() * total;
    for (const [key, w] of entries) {
      x -= w;
      if (x < 0) return key;
    }
    return entries[entries.length - 1]![0];
  }

  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i += 4) {
      const v = this.u32();
      for (let j = 0; j < 4 && i + j < n; j++) out[i + j] = (v >>> (8 * j)) & 0xff;
    }
    return out;
  }
}

/** The PRNG of fuzz session `index` of a run seeded `seed`. */
export const sessionRng = (seed: number, index: number) => new Rng(seed, index + 1);

// ---------------------------------------------------------------------------------------
// Encoding (MQTT 3.1.1, OASIS standard, section 2 and 3)
// ---------------------------------------------------------------------------------------

export const PACKET_TYPES = [
  'connect',
  'connack',
  'publish',
  'puback',
  'pubrec',
  'pubrel',
  'pubcomp',
  'subscribe',
  'suback',
  'unsubscribe',
  'unsuback',
  'pingreq',
  'pingresp',
  'disconnect',
] as const;
export type PacketType = (typeof PACKET_TYPES)[number];

/** Control packet type codes, the high nibble of the first byte (section 2.2.1). */
export const TYPE_CODE: Readonly<Record<PacketType, number>> = {
  connect: 1,
  connack: 2,
  publish: 3,
  puback: 4,
  pubrec: 5,
  pubrel: 6,
  pubcomp: 7,
  subscribe: 8,
  suback: 9,
  unsubscribe: 10,
  unsuback: 11,
  pingreq: 12,
  pingresp: 13,
  disconnect: 14,
};

/** Largest Remaining Length the 4-byte encoding can carry (section 2.2.3). */
export const MAX_REMAINING_LENGTH = 268_435_455;

/**
 * Remaining Length as a variable byte integer. Values above MAX_REMAINING_LENGTH come out as 5
 * or more bytes, which is malformed, and that is what a mutation asking for them wants.
 */
export function remainingLengthBytes(value: number): Buffer {
  const bytes: number[] = [];
  let rest = Math.max(0, Math.floor(value));
  do {
    let byte = rest % 128;
    rest = Math.floor(rest / 128);
    if (rest > 0) byte |= 0x80;
    bytes.push(byte);
  } while (rest > 0);
  return Buffer.from(bytes);
}

const u16 = (n: number) => Buffer.from([(n >>> 8) & 0xff, n & 0xff]);
/** A length-prefixed string; a string over 65,535 bytes gets a prefix that wraps (a lie). */
const lp = (bytes: Buffer) => Buffer.concat([u16(bytes.length), bytes]);
const utf8 = (text: string) => Buffer.from(text, 'utf8');

export interface ConnectSpec {
  type: 'connect';
  protocolName: Buffer;
  level: number;
  clean: boolean;
  keepalive: number;
  clientId: Buffer;
  will?: { topic: Buffer; payload: Buffer; qos: number; retain: boolean };
  username?: Buffer;
  password?: Buffer;
  /** When set, the connect flags byte as is instead of the one the fields imply. */
  flagsByte?: number;
}
export interface ConnackSpec {
  type: 'connack';
  sessionPresent: number;
  returnCode: number;
}
export interface PublishSpec {
  type: 'publish';
  dup: boolean;
  qos: number;
  retain: boolean;
  topic: Buffer;
  packetId: number;
  payload: Buffer;
}
export interface IdSpec {
  type: 'puback' | 'pubrec' | 'pubrel' | 'pubcomp' | 'unsuback';
  packetId: number;
}
export interface SubscribeSpec {
  type: 'subscribe';
  packetId: number;
  /** options: the requested QoS byte (its upper six bits are reserved in 3.1.1). */
  entries: { filter: Buffer; options: number }[];
}
export interface SubackSpec {
  type: 'suback';
  packetId: number;
  codes: number[];
}
export interface UnsubscribeSpec {
  type: 'unsubscribe';
  packetId: number;
  filters: Buffer[];
}
export interface EmptySpec {
  type: 'pingreq' | 'pingresp' | 'disconnect';
}
/** Every field of a packet, with two overrides of the fixed header for the mutations. */
export type PacketSpec = (ConnectSpec | ConnackSpec | PublishSpec | IdSpec | SubscribeSpec | SubackSpec | UnsubscribeSpec | EmptySpec) & {
  /** The low nibble of the first byte; absent: the one the type requires. */
  headerFlags?: number;
  /** The high nibble of the first byte; absent: the type's code. */
  typeCode?: number;
};

function connectFlags(spec: ConnectSpec): number {
  if (spec.flagsByte !== undefined) return spec.flagsByte & 0xff;
  let flags = spec.clean ? 0x02 : 0;
  if (spec.will) flags |= 0x04 | ((spec.will.qos & 3) << 3) | (spec.will.retain ? 0x20 : 0);
  if (spec.password !== undefined) flags |= 0x40;
  if (spec.username !== undefined) flags |= 0x80;
  return flags;
}

function bodyOf(spec: PacketSpec): Buffer {
  switch (spec.type) {
    case 'connect':
      return Buffer.concat([
        lp(spec.protocolName),
        Buffer.from([spec.level & 0xff, connectFlags(spec)]),
        u16(spec.keepalive),
        lp(spec.clientId),
        ...(spec.will ? [lp(spec.will.topic), lp(spec.will.payload)] : []),
        ...(spec.username !== undefined ? [lp(spec.username)] : []),
        ...(spec.password !== undefined ? [lp(spec.password)] : []),
      ]);
    case 'connack':
      return Buffer.from([spec.sessionPresent & 0xff, spec.returnCode & 0xff]);
    case 'publish':
      return Buffer.concat([lp(spec.topic), ...(spec.qos > 0 ? [u16(spec.packetId)] : []), spec.payload]);
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp':
    case 'unsuback':
      return u16(spec.packetId);
    case 'subscribe':
      return Buffer.concat([u16(spec.packetId), ...spec.entries.flatMap((e) => [lp(e.filter), Buffer.from([e.options & 0xff])])]);
    case 'suback':
      return Buffer.concat([u16(spec.packetId), Buffer.from(spec.codes.map((c) => c & 0xff))]);
    case 'unsubscribe':
      return Buffer.concat([u16(spec.packetId), ...spec.filters.map(lp)]);
    case 'pingreq':
    case 'pingresp':
    case 'disconnect':
      return Buffer.alloc(0);
  }
}

/** The fixed-header flags each type requires (section 2.2.2); PUBLISH's carry DUP, QoS, RETAIN. */
function requiredFlags(spec: PacketSpec): number {
  if (spec.type === 'publish') return (spec.dup ? 8 : 0) | ((spec.qos & 3) << 1) | (spec.retain ? 1 : 0);
  return spec.type === 'pubrel' || spec.type === 'subscribe' || spec.type === 'unsubscribe' ? 0b0010 : 0;
}

/** The bytes of a packet: fixed header, Remaining Length, body. */
export function encode(spec: PacketSpec): Buffer {
  const body = bodyOf(spec);
  const first = (((spec.typeCode ?? TYPE_CODE[spec.type]) & 0x0f) << 4) | ((spec.headerFlags ?? requiredFlags(spec)) & 0x0f);
  return Buffer.concat([Buffer.from([first]), remainingLengthBytes(body.length), body]);
}

/** Where the body starts in an encoded packet (after the Remaining Length), or -1 if it never ends. */
export function bodyOffset(packet: Buffer): number {
  for (let i = 1; i < Math.min(packet.length, 6); i++) if ((packet[i]! & 0x80) === 0) return i + 1;
  return -1;
}

// ---------------------------------------------------------------------------------------
// What the target looks like
// ---------------------------------------------------------------------------------------

/** An identity the target knows, and what it may do there. */
export interface Login {
  /** CONNECT username and password; absent where the broker does not authenticate. */
  username?: string;
  password?: string;
  /** A client id the identity is known by (the school broker: the device id). */
  clientId?: string;
  /** Topics it may publish on, and filters it may subscribe to. */
  topics: readonly string[];
  filters: readonly string[];
}

export interface FuzzTarget {
  name: string;
  /** Identities that authenticate; a fuzz session logs in as one of them. */
  logins: readonly Login[];
  /** Topics the target gives meaning to but these logins may not use ($SYS, other schools, commands). */
  topics: readonly string[];
  filters: readonly string[];
  /** A payload for a publish on `topic`: well-formed for the target, or not. */
  payload(rng: Rng, topic: string): Buffer;
  /** The target's packet size limit (huge-length mutations go around it). */
  maxPacketBytes: number;
  /**
   * Valid CONNECTs always ask for CleanSession=1 (mutated ones may still not). Leaves out
   * sessions that outlive their connection, whose queues grow without bound on the district
   * broker (session-growth.ts), to see what else a long run finds.
   */
  cleanSessionsOnly?: boolean;
}

// ---------------------------------------------------------------------------------------
// Valid packets
// ---------------------------------------------------------------------------------------

const LEVEL_WORDS = ['a', 'b', 'test', 'x', 'sensor', 'up', 'down', 'telemetry', 'state', 'command', 'trường', 'phòng-101', 'données', '€', '日本', '0', 'schoolops', 'v1', 'local', 'device'];

/** A well-formed topic name: no wildcards, no NUL, valid UTF-8, not empty. */
export function randomTopic(rng: Rng): string {
  const levels = rng.logRange(1, 12);
  const parts: string[] = [];
  for (let i = 0; i < levels; i++) {
    const roll = rng.int(10);
    parts.push(roll < 6 ? rng.pick(LEVEL_WORDS) : roll < 8 ? rng.bytes(rng.range(1, 8)).toString('hex') : roll < 9 ? '' : String(rng.u32()));
  }
  let topic = parts.join('/');
  if (rng.chance(0.05)) topic = `$SYS/${topic}`;
  return topic.length > 0 ? topic : 'a';
}

/** A well-formed filter: '+' as a whole level, '#' only as the whole last level. */
export function randomFilter(rng: Rng): string {
  const levels = randomTopic(rng).split('/');
  const out = levels.map((level) => (rng.chance(0.2) ? '+' : level));
  if (rng.chance(0.3)) out.push('#');
  return out.join('/');
}

function topicFor(rng: Rng, target: FuzzTarget, login: Login | undefined, discipline: number): string {
  if (login && login.topics.length > 0 && rng.chance(discipline)) return rng.pick(login.topics);
  return rng.chance(0.6) && target.topics.length > 0 ? rng.pick(target.topics) : randomTopic(rng);
}

function filterFor(rng: Rng, target: FuzzTarget, login: Login | undefined, discipline: number): string {
  if (login && login.filters.length > 0 && rng.chance(discipline)) return rng.pick(login.filters);
  return rng.chance(0.6) && target.filters.length > 0 ? rng.pick(target.filters) : randomFilter(rng);
}

const packetId = (rng: Rng) => rng.range(1, 65535);

export function randomClientId(rng: Rng): string {
  return rng.chance(0.1) ? '' : `fuzz-${rng.bytes(rng.range(1, 10)).toString('hex')}`;
}

/** Where a generated packet's fields come from. */
export interface PacketContext {
  target: FuzzTarget;
  /** The identity this connection logged in as, if any. */
  login?: Login | undefined;
  /** Probability of picking the login's own topics and filters over anything else. */
  discipline: number;
}

export function validConnect(rng: Rng, ctx: PacketContext, credentials?: { username?: string; password?: string; clientId?: string }): ConnectSpec {
  const mqtt311 = rng.chance(0.9);
  const randomId = credentials?.clientId ?? randomClientId(rng);
  // An empty client id needs CleanSession=1 (MQTT-3.1.3-7).
  const clean = randomId === '' || rng.chance(0.85) || ctx.target.cleanSessionsOnly === true;
  // The district broker keeps a persistent session only under the principal's own name
  // (broker.ts PERSISTENT_SESSION_RULE): half the persistent logins use it, so the fuzz
  // drives both the refusal and the one session each principal may keep (which the
  // concurrent sessions of one login then take over from each other).
  const ownName = !clean && credentials?.username !== undefined && credentials.clientId === undefined && rng.chance(0.5);
  const clientId = ownName ? credentials.username! : randomId;
  const spec: ConnectSpec = {
    type: 'connect',
    protocolName: utf8(mqtt311 ? 'MQTT' : 'MQIsdp'),
    level: mqtt311 ? 4 : 3,
    clean,
    keepalive: rng.pick([0, 5, 30, 60, 600, 65535]),
    clientId: utf8(clientId),
  };
  if (rng.chance(0.2)) {
    const topic = topicFor(rng, ctx.target, ctx.login, ctx.discipline);
    // A will message has a 2-byte length: at most 65,535 bytes of the payload.
    spec.will = { topic: utf8(topic), payload: ctx.target.payload(rng, topic).subarray(0, 65535), qos: rng.int(3), retain: rng.chance(0.2) };
  }
  if (credentials?.username !== undefined) spec.username = utf8(credentials.username);
  // A password needs a username (MQTT-3.1.2-22).
  if (credentials?.password !== undefined && spec.username !== undefined) spec.password = utf8(credentials.password);
  return spec;
}

/** A valid packet of this type, its fields drawn from the context. */
export function validSpec(rng: Rng, type: PacketType, ctx: PacketContext): PacketSpec {
  switch (type) {
    case 'connect':
      return validConnect(rng, ctx, ctx.login);
    case 'connack':
      return { type, sessionPresent: rng.int(2), returnCode: rng.int(6) };
    case 'publish': {
      const qos = rng.int(3);
      const topic = topicFor(rng, ctx.target, ctx.login, ctx.discipline);
      return {
        type,
        qos,
        dup: qos > 0 && rng.chance(0.1), // DUP is 0 for QoS 0 (MQTT-3.3.1-2)
        retain: rng.chance(0.05),
        topic: utf8(topic),
        packetId: qos > 0 ? packetId(rng) : 0,
        payload: ctx.target.payload(rng, topic),
      };
    }
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp':
    case 'unsuback':
      return { type, packetId: packetId(rng) };
    case 'subscribe':
      return {
        type,
        packetId: packetId(rng),
        entries: Array.from({ length: rng.logRange(1, 8) }, () => ({ filter: utf8(filterFor(rng, ctx.target, ctx.login, ctx.discipline)), options: rng.int(3) })),
      };
    case 'suback':
      return { type, packetId: packetId(rng), codes: Array.from({ length: rng.range(1, 4) }, () => rng.pick([0, 1, 2, 0x80])) };
    case 'unsubscribe':
      return { type, packetId: packetId(rng), filters: Array.from({ length: rng.logRange(1, 8) }, () => utf8(filterFor(rng, ctx.target, ctx.login, ctx.discipline))) };
    case 'pingreq':
    case 'pingresp':
    case 'disconnect':
      return { type };
  }
}

// ---------------------------------------------------------------------------------------
// Mutations
// ---------------------------------------------------------------------------------------

/** Mutations that change a packet's fields (the packet is then encoded as usual). */
const FIELD_MUTATIONS = {
  'bad-utf8': ['connect', 'publish', 'subscribe', 'unsubscribe'],
  'nul-in-string': ['connect', 'publish', 'subscribe', 'unsubscribe'],
  'wildcard-topic': ['publish', 'connect'],
  'bad-filter': ['subscribe', 'unsubscribe'],
  'bad-qos': ['publish', 'subscribe', 'connect'],
  'reserved-flags': PACKET_TYPES,
  'reserved-type': PACKET_TYPES,
  'zero-packet-id': ['publish', 'puback', 'pubrec', 'pubrel', 'pubcomp', 'subscribe', 'suback', 'unsubscribe', 'unsuback'],
  'empty-list': ['subscribe', 'unsubscribe', 'suback'],
  'bad-protocol': ['connect'],
  'long-string': ['connect', 'publish', 'subscribe', 'unsubscribe'],
} as const satisfies Record<string, readonly PacketType[]>;

/** Mutations of the encoded bytes. */
const BYTE_MUTATIONS = [
  'bit-flip',
  'truncate',
  'wrong-remaining-length',
  'huge-length',
  'malformed-length',
  'string-overrun',
  'append-garbage',
  'splice',
  'random-bytes',
] as const;

export type FieldMutation = keyof typeof FIELD_MUTATIONS;
export type ByteMutation = (typeof BYTE_MUTATIONS)[number];
export type Mutation = FieldMutation | ByteMutation;
export const MUTATIONS: readonly Mutation[] = [...(Object.keys(FIELD_MUTATIONS) as FieldMutation[]), ...BYTE_MUTATIONS];

const isFieldMutation = (m: Mutation): m is FieldMutation => Object.hasOwn(FIELD_MUTATIONS, m);

/** The packet types a mutation can apply to. */
export function mutationAppliesTo(mutation: Mutation): readonly PacketType[] {
  return isFieldMutation(mutation) ? FIELD_MUTATIONS[mutation] : PACKET_TYPES;
}

/** Byte sequences that are not UTF-8: a bare continuation, overlong '/', a surrogate, 0xFF, a cut-off sequence. */
const BAD_UTF8 = [[0x80], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xff], [0xfe, 0xff], [0xe2, 0x82], [0xf4, 0x90, 0x80, 0x80], [0xc3, 0x28]];

function spoil(rng: Rng, text: Buffer, insert: Buffer): Buffer {
  const at = rng.int(text.length + 1);
  return Buffer.concat([text.subarray(0, at), insert, text.subarray(at)]);
}

/** One string field of the packet, rewritten by `change`. */
function changeAString(rng: Rng, spec: PacketSpec, change: (text: Buffer) => Buffer): void {
  switch (spec.type) {
    case 'connect': {
      const field = rng.int(spec.will ? 4 : 3);
      if (field === 0) spec.clientId = change(spec.clientId);
      else if (field === 1) spec.username = change(spec.username ?? utf8('u'));
      else if (field === 2) spec.protocolName = change(spec.protocolName);
      else if (spec.will) spec.will.topic = change(spec.will.topic);
      return;
    }
    case 'publish':
      spec.topic = change(spec.topic);
      return;
    case 'subscribe': {
      const entry = rng.pick(spec.entries);
      entry.filter = change(entry.filter);
      return;
    }
    case 'unsubscribe': {
      const i = rng.int(spec.filters.length);
      spec.filters[i] = change(spec.filters[i]!);
      return;
    }
    default:
      return;
  }
}

const BAD_FILTERS = ['', 'a/#/b', 'a#', '#a', '+a', 'a/+b', '#/', 'a/b#', '##', '++', 'a//#x', '$SYS/#', '#', '+/+/+/+'];

function mutateFields(rng: Rng, spec: PacketSpec, mutation: FieldMutation, ctx: PacketContext): void {
  switch (mutation) {
    case 'bad-utf8':
      return changeAString(rng, spec, (text) => spoil(rng, text, Buffer.from(rng.pick(BAD_UTF8))));
    case 'nul-in-string':
      // U+0000 must not appear in a string (MQTT-1.5.3-2).
      return changeAString(rng, spec, (text) => spoil(rng, text, Buffer.from([0])));
    case 'wildcard-topic': {
      const wild = (text: Buffer) => spoil(rng, text, utf8(rng.pick(['+', '#', '/#', '/+/', '#/x'])));
      if (spec.type === 'publish') spec.topic = wild(spec.topic);
      else if (spec.type === 'connect') spec.will = { topic: wild(spec.will?.topic ?? utf8('a')), payload: Buffer.from('bye'), qos: rng.int(3), retain: rng.chance(0.5) };
      return;
    }
    case 'bad-filter': {
      const bad = utf8(rng.chance(0.8) ? rng.pick(BAD_FILTERS) : `${filterFor(rng, ctx.target, ctx.login, 1)}${rng.pick(['#', '+', '/#/a', 'x+'])}`);
      if (spec.type === 'subscribe') rng.pick(spec.entries).filter = bad;
      else if (spec.type === 'unsubscribe') spec.filters[rng.int(spec.filters.length)] = bad;
      return;
    }
    case 'bad-qos':
      if (spec.type === 'publish') {
        spec.qos = 3; // both QoS bits set (MQTT-3.3.1-4)
        spec.packetId ||= 1;
      } else if (spec.type === 'subscribe') {
        // QoS 3, or the reserved upper bits set (MQTT-3-8.3-4).
        rng.pick(spec.entries).options = rng.chance(0.5) ? 3 : (rng.int(64) << 2) | rng.int(4);
      } else if (spec.type === 'connect') {
        if (rng.chance(0.5)) spec.will = { topic: spec.will?.topic ?? utf8('a'), payload: Buffer.alloc(0), qos: 3, retain: false };
        else spec.flagsByte = (connectFlags(spec) & ~0x04) | (rng.range(1, 3) << 3); // a will QoS without a will (MQTT-3.1.2-13)
      }
      return;
    case 'reserved-flags':
      if (spec.type === 'connect' && rng.chance(0.5)) spec.flagsByte = connectFlags(spec) | 0x01; // reserved bit (MQTT-3.1.2-3)
      else if (spec.type === 'publish' && spec.qos === 0 && rng.chance(0.5)) spec.headerFlags = 0b1000 | (spec.retain ? 1 : 0); // DUP on QoS 0
      else {
        const required = requiredFlags(spec);
        spec.headerFlags = (required ^ rng.range(1, 15)) & 0x0f;
      }
      return;
    case 'reserved-type':
      spec.typeCode = rng.pick([0, 15]);
      return;
    case 'zero-packet-id':
      if ('packetId' in spec) spec.packetId = 0;
      if (spec.type === 'publish' && spec.qos === 0) spec.qos = 1;
      return;
    case 'empty-list':
      if (spec.type === 'subscribe') spec.entries = [];
      else if (spec.type === 'unsubscribe') spec.filters = [];
      else if (spec.type === 'suback') spec.codes = [];
      return;
    case 'bad-protocol': {
      if (spec.type !== 'connect') return;
      const roll = rng.int(5);
      if (roll === 0) spec.protocolName = utf8(rng.pick(['MQTs', 'mqtt', '', 'MQIsdp', 'HTTP', 'MQTT\u0000']));
      else if (roll === 1) spec.level = rng.pick([0, 1, 2, 5, 6, 127, 128, 131, 255]);
      else if (roll === 2) spec.flagsByte = (connectFlags(spec) | 0x40) & ~0x80; // password without username (MQTT-3.1.2-22)
      else if (roll === 3) {
        spec.clientId = Buffer.alloc(0);
        spec.clean = false; // empty id with a persistent session (MQTT-3.1.3-8)
      } else spec.flagsByte = rng.int(256);
      return;
    }
    case 'long-string': {
      // Up to and past what a 2-byte length can say; filters of hundreds of levels.
      const long = rng.chance(0.5) ? utf8('a/'.repeat(rng.range(100, 2000)) + 'b') : Buffer.alloc(rng.pick([255, 4096, 65535, 65536, 70000]), 0x61);
      if (spec.type === 'publish') spec.topic = long;
      else if (spec.type === 'subscribe') rng.pick(spec.entries).filter = long;
      else if (spec.type === 'unsubscribe') spec.filters[rng.int(spec.filters.length)] = long;
      else if (spec.type === 'connect') {
        if (rng.chance(0.5)) spec.clientId = long;
        else spec.username = long;
      }
      return;
    }
  }
}

/** A Remaining Length field that replaces the real one. */
function withRemainingLength(packet: Buffer, lengthBytes: Buffer): Buffer {
  const offset = bodyOffset(packet);
  const body = offset < 0 ? packet.subarray(1) : packet.subarray(offset);
  return Buffer.concat([packet.subarray(0, 1), lengthBytes, body]);
}

function mutateBytes(rng: Rng, packet: Buffer, mutation: ByteMutation, ctx: PacketContext): Buffer {
  switch (mutation) {
    case 'bit-flip': {
      const out = Buffer.from(packet);
      const flips = rng.logRange(1, 16);
      for (let i = 0; i < flips; i++) {
        // Headers are where parsers decide the most: flip there half the time.
        const at = rng.chance(0.5) ? rng.int(Math.min(out.length, 8)) : rng.int(out.length);
        out[at] = out[at]! ^ (1 << rng.int(8));
      }
      return out;
    }
    case 'truncate':
      return packet.subarray(0, rng.int(packet.length)); // may be empty: then nothing is sent
    case 'wrong-remaining-length': {
      const offset = bodyOffset(packet);
      const real = offset < 0 ? 0 : packet.length - offset;
      const claimed = rng.chance(0.7) ? Math.max(0, real + rng.pick([-3, -2, -1, 1, 2, 3, 16])) : rng.int(1024);
      return withRemainingLength(packet, remainingLengthBytes(claimed));
    }
    case 'huge-length': {
      const max = ctx.target.maxPacketBytes;
      const claimed = rng.pick([max - 1, max, max + 1, 2 * max, 16 * 1024 * 1024, MAX_REMAINING_LENGTH]);
      return withRemainingLength(packet, remainingLengthBytes(claimed));
    }
    case 'malformed-length': {
      const bad = rng.pick([
        [0x80, 0x80, 0x80, 0x80, 0x01], // a fifth byte
        [0xff, 0xff, 0xff, 0xff, 0x7f],
        [0xff, 0xff, 0xff, 0xff],
        [0x80], // a continuation that never ends
        [0x80, 0x00], // not minimal
        [0x80, 0x80, 0x80, 0x00],
      ]);
      return withRemainingLength(packet, Buffer.from(bad));
    }
    case 'string-overrun': {
      // The first length-prefixed field of the body claims more than there is.
      const offset = bodyOffset(packet);
      const out = Buffer.from(packet);
      const at = offset + ((packet[0]! >> 4) === TYPE_CODE.subscribe || (packet[0]! >> 4) === TYPE_CODE.unsubscribe ? 2 : 0);
      if (offset < 0 || at + 2 > out.length) return Buffer.concat([out, Buffer.from([0xff, 0xff])]);
      out.writeUInt16BE(rng.chance(0.5) ? 0xffff : Math.min(0xffff, out.length - at + rng.range(0, 8)), at);
      return out;
    }
    case 'append-garbage':
      return Buffer.concat([packet, rng.bytes(rng.logRange(1, 512))]);
    case 'splice': {
      // Another type's header on this body, or this header on another body.
      const other = encode(validSpec(rng, rng.pick(PACKET_TYPES), ctx));
      const offset = bodyOffset(packet);
      const otherOffset = bodyOffset(other);
      return rng.chance(0.5)
        ? Buffer.concat([other.subarray(0, otherOffset), packet.subarray(offset)])
        : Buffer.concat([packet.subarray(0, offset), other.subarray(otherOffset)]);
    }
    case 'random-bytes': {
      const bytes = rng.bytes(rng.logRange(1, 4096));
      // Half the time a plausible first byte, so the parser goes past it.
      if (rng.chance(0.5)) bytes[0] = (rng.range(1, 14) << 4) | rng.pick([0, 0, 2, rng.int(16)]);
      return bytes;
    }
  }
}

export interface FuzzPacket {
  /** The packet type it was made from. */
  type: PacketType;
  /** The mutation applied, null for a valid packet. */
  mutation: Mutation | null;
  bytes: Buffer;
  /** A valid QoS 2 PUBLISH: its packet id, for the PUBREL that completes the flow once the broker's PUBREC is in. */
  qos2Id?: number;
}

/** A valid packet of `type`. */
export function validPacket(rng: Rng, type: PacketType, ctx: PacketContext): FuzzPacket {
  const spec = validSpec(rng, type, ctx);
  const packet: FuzzPacket = { type, mutation: null, bytes: encode(spec) };
  if (spec.type === 'publish' && spec.qos === 2) packet.qos2Id = spec.packetId;
  return packet;
}

/** A packet of a type `mutation` applies to (or of `type`, if it applies), mutated. */
export function mutatedPacket(rng: Rng, mutation: Mutation, ctx: PacketContext, type?: PacketType): FuzzPacket {
  const types = mutationAppliesTo(mutation);
  const base: PacketType = type !== undefined && types.includes(type) ? type : rng.pick(types);
  const spec = validSpec(rng, base, ctx);
  if (isFieldMutation(mutation)) {
    mutateFields(rng, spec, mutation, ctx);
    return { type: base, mutation, bytes: encode(spec) };
  }
  return { type: base, mutation, bytes: mutateBytes(rng, encode(spec), mutation, ctx) };
}

/**
 * What a connection sends once it is connected, by weight: mostly what a client sends (so an
 * authenticated session lives long enough to reach the broker's deeper paths), and every other
 * type too (server-to-client packets, a second CONNECT, DISCONNECT), which end the connection
 * (MQTT-3.1.0-2, 4.8.0-1): rarely, or no session would last past a few dozen packets.
 */
export const SESSION_TYPE_WEIGHTS: Readonly<Record<PacketType, number>> = {
  publish: 40,
  subscribe: 10,
  unsubscribe: 6,
  pingreq: 8,
  puback: 4,
  pubrec: 4,
  pubrel: 4,
  pubcomp: 4,
  connect: 0.05,
  connack: 0.02,
  suback: 0.02,
  unsuback: 0.02,
  pingresp: 0.02,
  disconnect: 0.02,
};

/** The mutations that apply to each packet type. */
const MUTATIONS_OF: Readonly<Record<PacketType, readonly Mutation[]>> = Object.fromEntries(
  PACKET_TYPES.map((type) => [type, MUTATIONS.filter((m) => mutationAppliesTo(m).includes(type))]),
) as unknown as Record<PacketType, readonly Mutation[]>;

/**
 * One packet of a session: valid, or (with probability mutationRate) mutated. The type is drawn
 * first and the mutation among those that apply to it, so a session's mutations keep its mix of
 * types (a mutated CONNECT, which ends a session, stays as rare as a CONNECT).
 */
export function fuzzPacket(rng: Rng, ctx: PacketContext, mutationRate: number): FuzzPacket {
  const type = rng.weighted(SESSION_TYPE_WEIGHTS);
  if (!rng.chance(mutationRate)) return validPacket(rng, type, ctx);
  return mutatedPacket(rng, rng.pick(MUTATIONS_OF[type]), ctx, type);
}

// ---------------------------------------------------------------------------------------
// Sessions: what one fuzz connection does
// ---------------------------------------------------------------------------------------

export const OPENINGS = {
  /** A valid CONNECT of a known identity; waits for CONNACK before the rest. */
  login: 45,
  /** The same, the rest sent right behind the CONNECT (queued while the broker authenticates). */
  'login-nowait': 10,
  'bad-password': 7,
  'unknown-user': 4,
  /** A valid CONNECT without credentials. */
  anonymous: 8,
  'mutated-connect': 12,
  /** A valid packet that is not CONNECT, first (MQTT-3.1.0-1). */
  'no-connect': 5,
  /** Random bytes from the first byte on. */
  garbage: 9,
} as const;
export type Opening = keyof typeof OPENINGS;

/**
 * How many packets follow the opening (log-uniform in the range). A session the broker refuses
 * at CONNECT, or cuts off at its first packet, gets few: the rest would only be written into
 * a closed connection. A logged-in one gets many. (A broker without authentication, like the
 * school's, accepts an anonymous CONNECT.)
 */
const PACKETS_AFTER: Readonly<Record<Opening, readonly [number, number]>> = {
  login: [20, 5000],
  // Written before the CONNACK is in: past the broker's queue for packets that arrive while
  // it authenticates (aedes: 42), but not thousands into a connection it then drops.
  'login-nowait': [1, 100],
  anonymous: [1, 1000],
  'bad-password': [1, 50],
  'unknown-user': [1, 50],
  'mutated-connect': [1, 50],
  'no-connect': [1, 50],
  garbage: [1, 8],
};

/** Openings after which the session waits for CONNACK before it sends the rest. */
export const WAITS_FOR_CONNACK: ReadonlySet<Opening> = new Set(['login', 'anonymous', 'bad-password', 'unknown-user']);

export const ENDINGS = { disconnect: 3, end: 3, destroy: 3, linger: 1 } as const;
/** disconnect: DISCONNECT then FIN; end: FIN; destroy: close at once; linger: wait a little, then close. */
export type Ending = keyof typeof ENDINGS;

/** packets: one write per packet; batch: several packets per write; split: the stream cut anywhere, small pieces. */
export type Chunking = 'packet' | 'batch' | 'split';

export interface SessionPlan {
  index: number;
  opening: Opening;
  /** Index into target.logins of the identity used, if any. */
  login: number | null;
  /** Packets after the opening one. */
  packets: number;
  mutationRate: number;
  discipline: number;
  chunking: Chunking;
  ending: Ending;
}

const MUTATION_RATES = [0, 0.001, 0.005, 0.02, 0.1, 0.3, 1] as const;
/**
 * A logged-in session cost the broker a password check (scrypt, tens of ms of CPU): it is
 * made to last, mostly valid packets with a mutation now and then, so that the fuzz reaches
 * what only an authenticated client can (subscriptions, QoS 2 flows, takeovers) at a rate
 * the password checks do not cap.
 */
const LOGIN_MUTATION_RATES = [0, 0, 0.0005, 0.002, 0.01, 0.05, 0.2] as const;
/** How faithfully a session keeps to its own topics (anything else is mostly refused, and a refused publish ends it). */
const DISCIPLINES = [1, 1, 1, 0.999, 0.99, 0.9, 0.5] as const;

export function planSession(rng: Rng, target: FuzzTarget, index: number): SessionPlan {
  const opening = rng.weighted(OPENINGS);
  const usesLogin = opening === 'login' || opening === 'login-nowait' || opening === 'bad-password';
  return {
    index,
    opening,
    login: usesLogin && target.logins.length > 0 ? rng.int(target.logins.length) : null,
    packets: rng.logRange(...PACKETS_AFTER[opening]),
    mutationRate: rng.pick(opening === 'login' || opening === 'login-nowait' || opening === 'anonymous' ? LOGIN_MUTATION_RATES : MUTATION_RATES),
    discipline: rng.pick(DISCIPLINES),
    chunking: rng.weighted({ batch: 8, packet: 1, split: 1 }),
    ending: rng.weighted(ENDINGS),
  };
}

/** The opening packet of a session. */
export function openingPacket(rng: Rng, target: FuzzTarget, plan: SessionPlan): FuzzPacket {
  const login = plan.login === null ? undefined : target.logins[plan.login];
  const ctx: PacketContext = { target, login, discipline: plan.discipline };
  const connect = (credentials?: { username?: string; password?: string; clientId?: string }): FuzzPacket => ({
    type: 'connect',
    mutation: null,
    bytes: encode(validConnect(rng, ctx, credentials)),
  });
  switch (plan.opening) {
    case 'login':
    case 'login-nowait':
      return connect(login);
    case 'bad-password':
      return connect({ ...login, username: login?.username ?? 'fuzz', password: `wrong-${rng.bytes(4).toString('hex')}` });
    case 'unknown-user':
      return connect({ username: `nobody-${rng.bytes(4).toString('hex')}`, password: rng.bytes(8).toString('base64') });
    case 'anonymous':
      return connect();
    case 'mutated-connect':
      return mutatedPacket(rng, rng.pick(MUTATIONS), ctx, 'connect');
    case 'no-connect':
      return validPacket(rng, rng.pick(PACKET_TYPES.filter((t) => t !== 'connect')), ctx);
    case 'garbage':
      return mutatedPacket(rng, 'random-bytes', ctx);
  }
}

/**
 * Session `index` of seed `seed`: its plan, and its packets (the opening one first) as a
 * lazy sequence, so a session of thousands of packets costs no memory up front.
 */
export function session(seed: number, index: number, target: FuzzTarget): { plan: SessionPlan; rng: Rng; packets: Generator<FuzzPacket> } {
  const rng = sessionRng(seed, index);
  const plan = planSession(rng, target, index);
  const login = plan.login === null ? undefined : target.logins[plan.login];
  const ctx: PacketContext = { target, login, discipline: plan.discipline };
  function* packets(): Generator<FuzzPacket> {
    yield openingPacket(rng, target, plan);
    for (let i = 0; i < plan.packets; i++) {
      if (plan.opening === 'garbage') {
        yield mutatedPacket(rng, 'random-bytes', ctx);
        continue;
      }
      yield fuzzPacket(rng, ctx, plan.mutationRate);
    }
    if (plan.ending === 'disconnect') yield validPacket(rng, 'disconnect', ctx);
  }
  return { plan, rng, packets: packets() };
}

// ---------------------------------------------------------------------------------------
// Payloads
// ---------------------------------------------------------------------------------------

/** JSON-ish payloads that stress a JSON consumer: deep nesting, odd keys, huge numbers, not JSON. */
export function oddJson(rng: Rng): Buffer {
  switch (rng.int(10)) {
    case 0:
      return utf8('['.repeat(rng.logRange(10, 20_000)));
    case 1:
      return utf8(`${'{"a":'.repeat(rng.logRange(10, 3000))}1${'}'.repeat(rng.int(3000))}`);
    case 2:
      return utf8(JSON.stringify({ ['__proto__']: { polluted: true }, constructor: { prototype: { x: 1 } }, toString: 1, hasOwnProperty: 'x' }));
    case 3:
      return utf8(`{"ts":${rng.pick(['1e300', '-1', '9e15', '1.5', 'NaN', '"x"', 'null', '18446744073709551616'])},"values":{"a":${rng.pick(['1e309', '-0', 'true', '{}', '[]'])}}}`);
    case 4:
      return utf8(JSON.stringify(Object.fromEntries(Array.from({ length: rng.logRange(1, 2000) }, (_, i) => [`k${i}`, i]))));
    case 5:
      return Buffer.concat([utf8('{"values":{"a":"'), Buffer.from(rng.pick(BAD_UTF8)), utf8('"}}')]);
    case 6:
      return utf8(`{"values":{"a":"${'\\u0000'.repeat(rng.logRange(1, 100))}"}}`);
    case 7:
      return Buffer.alloc(0);
    case 8:
      return utf8(`{"a":1,"a":2,"b":${'"x"'.padEnd(rng.logRange(1, 100), ' ')}`);
    default:
      return rng.bytes(rng.logRange(1, 2048));
  }
}

// ---------------------------------------------------------------------------------------
// Reading what a broker sends back
// ---------------------------------------------------------------------------------------

/** Cuts a received byte stream into MQTT packets: the first byte and the body of each. */
export class FrameReader {
  private buffer: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): { first: number; body: Buffer }[] {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const frames: { first: number; body: Buffer }[] = [];
    for (;;) {
      const offset = bodyOffset(this.buffer);
      if (offset < 0) break;
      let length = 0;
      for (let i = offset - 1; i >= 1; i--) length = length * 128 + (this.buffer[i]! & 0x7f);
      if (this.buffer.length < offset + length) break;
      frames.push({ first: this.buffer[0]!, body: this.buffer.subarray(offset, offset + length) });
      this.buffer = this.buffer.subarray(offset + length);
    }
    return frames;
  }
}
