/**
 * Reproducer of the crash the fuzzing benchmark (fuzz.ts) found in a school gateway's local
 * broker (before commit 3cca556): a PUBLISH that aedes hands to authorizePublish while the client's CONNECT is still
 * being handled, when client.id is still null; edge-agent/src/local-broker.ts then logs the
 * refusal with clip(client.id) and the gateway process dies with
 * "TypeError: Cannot read properties of null (reading 'length')".
 *
 *   node --import tsx broker/bench/school-preconnack-repro.ts [--target school|district] [--payload-bytes 65600]
 *
 * The packets, in ONE write on a fresh connection:
 *   CONNECT  10 11 00 04 'MQTT' 04 02 00 3c 00 05 'repro'   (19 bytes: MQTT 3.1.1, CleanSession=1, keepalive 60)
 *   PUBLISH  30 c3 80 04 00 01 'x' <payload: 65,600 bytes>  (65,607 bytes: QoS 0, topic "x", not a device topic)
 *
 * Why it takes that: aedes reads a socket on every 'readable' event, and each read takes one off
 * its count of packets in flight even when none has completed (lib/client.js, nextBatch). When the
 * two packets come as two reads (libuv reads 64 KiB at a time, and here the PUBLISH ends past the
 * first 64 KiB), the second read finds the count back at one and handles the PUBLISH at once, as
 * if it were the first packet, while the CONNECT waits for its setImmediate (client.id not set
 * yet). A payload of 65,400 bytes (both packets in one read) does not crash it; 65,600 does, on
 * the first try. The district broker refuses the same PUBLISH (no authenticated principal yet)
 * and stays up.
 *
 * Fixed in edge-agent/src/local-broker.ts by commit 3cca556 (such a PUBLISH or SUBSCRIBE is
 * refused and counted as not_connected); the script now checks that it stays fixed.
 *
 * Exit code 1 if the broker process died.
 */
import { connect } from 'node:net';
import { parseArgs } from 'node:util';
import { encode } from './fuzz-packets.ts';
import { startTarget, type TargetKind } from './fuzz-targets.ts';

const { values } = parseArgs({ strict: true, options: { target: { type: 'string', default: 'school' }, 'payload-bytes': { type: 'string', default: '65600' } } });
const kind = values.target as TargetKind;
if (kind !== 'school' && kind !== 'district') throw new Error(`--target must be school or district, got "${values.target}"`);
const payloadBytes = Number(values['payload-bytes']);

const running = await startTarget(kind);
try {
  const connectPacket = encode({ type: 'connect', protocolName: Buffer.from('MQTT'), level: 4, clean: true, keepalive: 60, clientId: Buffer.from('repro') });
  const publishPacket = encode({ type: 'publish', qos: 0, dup: false, retain: false, topic: Buffer.from('x'), packetId: 0, payload: Buffer.alloc(payloadBytes, 0x61) });
  const bytes = Buffer.concat([connectPacket, publishPacket]);
  const what = `a ${connectPacket.length}-byte CONNECT and a ${publishPacket.length}-byte PUBLISH in one write`;
  const socket = connect({ port: running.port, host: '127.0.0.1' });
  socket.on('error', () => {});
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(bytes);
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  socket.destroy();
  await new Promise((resolve) => setTimeout(resolve, 500));
  const exit = running.fuzzed.exit;
  console.log(
    exit
      ? `${running.fuzzed.name} DIED (exit ${exit.code ?? exit.signal}) after ${what}:\n${running.fuzzed.stderr().trim()}`
      : `${running.fuzzed.name} is alive after ${what}`,
  );
  process.exitCode = exit ? 1 : 0;
} finally {
  await running.stop();
}
