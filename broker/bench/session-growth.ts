/**
 * What the district broker's memory does when one gateway leaves persistent sessions behind,
 * the growth the fuzzing benchmark (fuzz.ts) saw (RSS from 135 MB to 2.7 GB over 670,000
 * packets, with the well-behaved client's PINGREQ round trip up to 7.5 s):
 *
 *   node --import tsx broker/bench/session-growth.ts [--sessions 100] [--messages 1000] [--clean]
 *
 * The district broker (src/cli.ts, a child process, as in fuzz-targets.ts) gets `--sessions`
 * connections of ONE gateway (gw-fuzz-a), each with a fresh client id and CleanSession=0,
 * each subscribing to its school's downlink at QoS 1 and leaving. Then the cloud publishes
 * `--messages` acks of 1 KB at QoS 1 on that school's downlink. MQTT 3.1.1 keeps a
 * persistent session, and queues QoS 1 messages for it, until the same client id comes back
 * with CleanSession=1, which may be never; aedes' in-memory persistence has no cap on
 * sessions per principal or on messages queued per session. So every ack the cloud sends
 * is queued once per abandoned session (an aedes Packet each; the payload itself is shared),
 * and every payload stays in memory as long as one of them holds it. With --clean the same
 * sessions end with their connections and nothing is kept (the control).
 *
 * 2026-12-07, 200 sessions x 5000 acks: RSS 193 MB -> 351 MB (persistent) against
 * 200 MB -> 203 MB (--clean): about 160 bytes per queued entry, for ever.
 *
 * Prints the broker's RSS at each step.
 */
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { districtTopics } from '@schoolops/device-profiles';
import { encode } from './fuzz-packets.ts';
import { memoryOf, rawConversation, startTarget } from './fuzz-targets.ts';

const { values } = parseArgs({
  strict: true,
  options: { sessions: { type: 'string', default: '100' }, messages: { type: 'string', default: '1000' }, clean: { type: 'boolean', default: false } },
});
const sessions = Number(values.sessions);
const messages = Number(values.messages);
const clean = values.clean ?? false;

const running = await startTarget('district');
try {
  const gateway = running.target.logins.find((l) => l.username === 'gw-fuzz-a' && l.clientId === undefined)!;
  const cloud = running.target.logins.find((l) => l.username === 'cloud')!;
  const url = `mqtt://127.0.0.1:${running.port}`;
  const rss = () => `${((memoryOf(running.fuzzed.pid)?.rss ?? NaN) / 1024 / 1024).toFixed(0)} MB`;
  console.log(`district broker pid ${running.fuzzed.pid}: RSS ${rss()} at start`);
  for (let i = 0; i < sessions; i++) {
    const connect = encode({
      type: 'connect',
      protocolName: Buffer.from('MQTT'),
      level: 4,
      clean,
      keepalive: 60,
      clientId: Buffer.from(`left-behind-${i}`),
      username: Buffer.from(gateway.username!),
      password: Buffer.from(gateway.password!),
    });
    const subscribe = encode({ type: 'subscribe', packetId: 1, entries: [{ filter: Buffer.from(districtTopics.schoolDownlink('fuzz-a')), options: 1 }] });
    // From several loopback addresses: the broker limits password checks per address.
    await rawConversation(running.port, [
      { send: connect, expect: 2, what: 'CONNECT' },
      { send: subscribe, expect: 9, what: 'SUBSCRIBE' },
    ], 15_000, `127.0.0.${2 + (i % 16)}`);
  }
  console.log(`${sessions} ${clean ? 'clean' : 'persistent'} sessions of gw-fuzz-a, each subscribed to its downlink, left: RSS ${rss()}`);
  const sender = await mqtt.connectAsync(url, { protocolVersion: 4, clientId: 'cloud-sender', username: cloud.username, password: cloud.password, reconnectPeriod: 0 });
  const payload = Buffer.alloc(1024, 0x61);
  for (let i = 0; i < messages; i++) await sender.publishAsync(districtTopics.ack('fuzz-a'), payload, { qos: 1 });
  await sender.endAsync();
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  console.log(`${messages} acks of 1 KB published by the cloud at QoS 1 (${clean ? 'nobody to queue them for' : `${sessions * messages} queue entries, one per session per ack`}): RSS ${rss()}`);
} finally {
  await running.stop();
}
