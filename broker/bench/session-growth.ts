/**
 * What the district broker's memory and time do when one gateway leaves persistent sessions
 * behind: one cause of the growth the fuzzing benchmark (fuzz.ts) saw (RSS from 135 MB to
 * 2.7-3.9 GB over 650,000-750,000 packets, then no PINGRESP for over a minute). The fuzz runs
 * with --clean-sessions-only grew too (3.5 GB at 576,000 packets), so it is not the only one.
 *
 *   node --import tsx broker/bench/session-growth.ts [--sessions 100] [--messages 1000] [--clean]
 *       [--reconnect [--reconnect-clean]]
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
 *
 * --reconnect: then the first session's client id comes back, with CleanSession=0 (or 1 with
 * --reconnect-clean). On a resume aedes walks the session's
 * queue (lib/handlers/connect.js emptyQueue), and for each message does an outgoingUpdate (and,
 * for a message it may not forward, an outgoingClearMessageId), each a linear scan of the
 * queue (aedes-persistence): time quadratic in the queue, on the broker's only thread. The
 * session reads what it is sent and acknowledges nothing, so its queue stays whole for the
 * next time. Prints how long delivering the queue took and the longest PINGREQ round trip of
 * another client meanwhile. 2026-12-07, --sessions 1 --reconnect: 20,000 messages 1.2 s,
 * 40,000 4.0 s, 80,000 15.0 s (other clients still served between steps at that size). The
 * fuzz runs' hang (no PINGRESP for over a minute at 2.5 GB) was in this walk: the inspector
 * (node inspect -p <pid>, pause) stopped in connect.js emptyQueueFilter.
 */
import { connect as tcpConnect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { districtTopics } from '@schoolops/device-profiles';
import { FrameReader, encode } from './fuzz-packets.ts';
import { memoryOf, rawConversation, startTarget } from './fuzz-targets.ts';

const { values } = parseArgs({
  strict: true,
  options: {
    sessions: { type: 'string', default: '100' },
    messages: { type: 'string', default: '1000' },
    clean: { type: 'boolean', default: false },
    reconnect: { type: 'boolean', default: false },
    'reconnect-clean': { type: 'boolean', default: false },
  },
});
const sessions = Number(values.sessions);
const messages = Number(values.messages);
const clean = values.clean ?? false;
const resumeClean = values['reconnect-clean'] ?? false;

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
  if (values.reconnect) {
    // Another client pings all along, to see the broker's only thread blocked.
    const pinger = tcpConnect({ port: running.port, host: '127.0.0.1', noDelay: true });
    const reader = new FrameReader();
    let sentAt = 0;
    let longest = 0;
    let answered = false;
    pinger.on('data', (chunk: Buffer) => {
      for (const frame of reader.push(chunk)) {
        if (frame.first >> 4 === 13) {
          longest = Math.max(longest, performance.now() - sentAt);
          answered = true;
        }
        if (frame.first >> 4 === 2 || frame.first >> 4 === 13) setTimeout(ping, 20);
      }
    });
    const ping = () => {
      if (pinger.destroyed) return;
      sentAt = performance.now();
      answered = false;
      pinger.write(encode({ type: 'pingreq' }));
    };
    const timer = setInterval(() => (longest = Math.max(longest, answered ? 0 : performance.now() - sentAt)), 100);
    pinger.write(
      encode({ type: 'connect', protocolName: Buffer.from('MQTT'), level: 4, clean: true, keepalive: 600, clientId: Buffer.from('pinger'), username: Buffer.from(cloud.username!), password: Buffer.from(cloud.password!) }),
    );
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    // The session comes back and stays, reading what it is sent and acknowledging nothing.
    const started = performance.now();
    const back = tcpConnect({ port: running.port, host: '127.0.0.1', localAddress: '127.0.0.2' });
    back.on('error', () => {});
    let connackAt = 0;
    let received = 0;
    back.on('data', (chunk: Buffer) => {
      connackAt ||= performance.now();
      received += chunk.length;
    });
    back.write(
      encode({ type: 'connect', protocolName: Buffer.from('MQTT'), level: 4, clean: resumeClean, keepalive: 600, clientId: Buffer.from('left-behind-0'), username: Buffer.from(gateway.username!), password: Buffer.from(gateway.password!) }),
    );
    while (connackAt === 0 && performance.now() - started < 600_000) await new Promise((resolve) => setTimeout(resolve, 20));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const connackMs = connackAt - started;
    // The queue is delivered after the CONNACK: wait for all of it (1 KB payloads), then for the pinger.
    while (received < messages * 1024 && performance.now() - started < 600_000) await new Promise((resolve) => setTimeout(resolve, 20));
    const deliveredMs = performance.now() - started;
    while (!answered && performance.now() - sentAt < 600_000) await new Promise((resolve) => setTimeout(resolve, 50));
    await new Promise((resolve) => setTimeout(resolve, 500));
    clearInterval(timer);
    pinger.destroy();
    back.destroy();
    console.log(
      `left-behind-0 back with CleanSession=${resumeClean ? 1 : 0}: CONNACK after ${(connackMs / 1000).toFixed(1)} s; ` +
        `its queue (${(received / 1024 / 1024).toFixed(1)} MB) delivered after ${(deliveredMs / 1000).toFixed(1)} s; another client's longest PINGREQ round trip meanwhile ${(longest / 1000).toFixed(1)} s; RSS ${rss()}`,
    );
  }
} finally {
  await running.stop();
}
