/**
 * The fuzzing benchmark's packet generator (bench/fuzz-packets.ts), checked against
 * mqtt-packet's parser, the one aedes uses: same seed, same bytes; every MQTT 3.1.1 packet
 * type comes out valid; mutations come out as bytes, parseable or not, and never as a throw.
 * No broker and no socket: this runs in well under a second.
 */
import { describe, expect, it } from 'vitest';
import mqttPacket from 'mqtt-packet';
import {
  MUTATIONS,
  OPENINGS,
  PACKET_TYPES,
  Rng,
  encode,
  mutatedPacket,
  mutationAppliesTo,
  oddJson,
  remainingLengthBytes,
  session,
  validPacket,
  type FuzzTarget,
  type PacketContext,
} from '../bench/fuzz-packets.ts';

const target: FuzzTarget = {
  name: 'test',
  logins: [
    { username: 'gw-a', password: 'secret-a', topics: ['schoolops/v1/a/up/telemetry'], filters: ['schoolops/v1/a/down/#'] },
    { clientId: 'a.r101.board', topics: ['local/v1/device/a.r101.board/state'], filters: ['local/v1/device/a.r101.board/command'] },
  ],
  topics: ['schoolops/v1/b/up/telemetry', '$SYS/broker/uptime'],
  filters: ['schoolops/v1/+/up/#', '#'],
  // Small mostly; sometimes past what a 2-byte length can say, where encoders slip.
  payload: (rng) => (rng.chance(0.05) ? rng.bytes(rng.range(60_000, 70_000)) : rng.chance(0.5) ? oddJson(rng) : Buffer.from(`{"n":${rng.int(100)}}`)),
  maxPacketBytes: 64 * 1024,
};
const ctx: PacketContext = { target, login: target.logins[0], discipline: 0.9 };

/** What mqtt-packet makes of the bytes: the packets it parsed, whether it raised an error, and the bytes it left. */
function parse(bytes: Buffer): { packets: { cmd: string }[]; error: Error | null; left: number } {
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  const packets: { cmd: string }[] = [];
  let error: Error | null = null;
  parser.on('packet', (packet: { cmd: string }) => packets.push(packet));
  parser.on('error', (e: Error) => (error ??= e));
  const left = parser.parse(bytes);
  return { packets, error, left };
}

/** The first 200 packets of a session (enough to tell; some sessions run to thousands). */
const sessionBytes = (seed: number, index: number) => {
  const chunks: Buffer[] = [];
  for (const packet of session(seed, index, target).packets) {
    chunks.push(packet.bytes);
    if (chunks.length === 200) break;
  }
  return Buffer.concat(chunks);
};

describe('fuzz packet generator', () => {
  it('is deterministic: the same seed and session give the same bytes, another seed others', () => {
    const a = Array.from({ length: 10 }, (_, i) => sessionBytes(7, i));
    const again = Array.from({ length: 10 }, (_, i) => sessionBytes(7, i));
    const b = Array.from({ length: 10 }, (_, i) => sessionBytes(8, i));
    a.forEach((bytes, i) => expect(bytes.equals(again[i]!)).toBe(true));
    expect(a.some((bytes, i) => !bytes.equals(b[i]!))).toBe(true);
    const r1 = new Rng(123);
    const r2 = new Rng(123);
    expect(Array.from({ length: 100 }, () => r1.u32())).toEqual(Array.from({ length: 100 }, () => r2.u32()));
  });

  it('makes a valid packet of every MQTT 3.1.1 type, as mqtt-packet parses it', () => {
    const rng = new Rng(1);
    for (const type of PACKET_TYPES) {
      for (let i = 0; i < 40; i++) {
        const { bytes, mutation } = validPacket(rng, type, ctx);
        expect(mutation).toBeNull();
        const parsed = parse(bytes);
        expect(parsed.error, `${type} ${bytes.toString('hex').slice(0, 200)}`).toBeNull();
        expect(parsed.packets.map((p) => p.cmd)).toEqual([type]);
        expect(parsed.left).toBe(0);
      }
    }
  });

  it('encodes the Remaining Length as MQTT does', () => {
    expect([...remainingLengthBytes(0)]).toEqual([0]);
    expect([...remainingLengthBytes(127)]).toEqual([0x7f]);
    expect([...remainingLengthBytes(128)]).toEqual([0x80, 0x01]);
    expect([...remainingLengthBytes(16_383)]).toEqual([0xff, 0x7f]);
    expect([...remainingLengthBytes(268_435_455)]).toEqual([0xff, 0xff, 0xff, 0x7f]);
    expect(encode({ type: 'pingreq' })).toEqual(Buffer.from([0xc0, 0x00]));
    expect(encode({ type: 'pubrel', packetId: 258 })).toEqual(Buffer.from([0x62, 0x02, 0x01, 0x02]));
  });

  it('mutates every type without throwing; mutated bytes parse or not, and many do not', () => {
    const rng = new Rng(2);
    let parseable = 0;
    let refused = 0;
    for (const mutation of MUTATIONS) {
      for (const type of mutationAppliesTo(mutation)) {
        for (let i = 0; i < 6; i++) {
          const packet = mutatedPacket(rng, mutation, ctx, type);
          expect(packet.mutation).toBe(mutation);
          expect(Buffer.isBuffer(packet.bytes)).toBe(true);
          // Whatever the parser makes of them; it may even throw, which is its business, not ours.
          try {
            const parsed = parse(packet.bytes);
            if (parsed.error) refused++;
            else parseable++;
          } catch {
            refused++;
          }
        }
      }
    }
    expect(refused).toBeGreaterThan(100);
    expect(parseable).toBeGreaterThan(10);
  });

  it('never throws on packets longer than a 2-byte length can say', () => {
    const big: PacketContext = { ...ctx, target: { ...target, payload: (rng) => rng.bytes(rng.range(65_530, 66_000)) } };
    const rng = new Rng(4);
    for (const mutation of MUTATIONS) {
      for (const type of mutationAppliesTo(mutation)) {
        for (let i = 0; i < 4; i++) expect(mutatedPacket(rng, mutation, big, type).bytes.length).toBeGreaterThanOrEqual(0);
      }
    }
  });

  it('sessions cover every opening and every packet type, valid and mutated', () => {
    const openings = new Set<string>();
    const types = new Set<string>();
    const mutations = new Set<string>();
    let valid = 0;
    for (let index = 0; index < 300; index++) {
      const { plan, packets } = session(3, index, target);
      openings.add(plan.opening);
      let n = 0;
      for (const packet of packets) {
        types.add(packet.type);
        if (packet.mutation) mutations.add(packet.mutation);
        else valid++;
        if (++n === 150) break;
      }
    }
    expect([...openings].sort()).toEqual(Object.keys(OPENINGS).sort());
    expect([...types].sort()).toEqual([...PACKET_TYPES].sort());
    expect([...mutations].sort()).toEqual([...MUTATIONS].sort());
    expect(valid).toBeGreaterThan(1000);
  });
});
