/**
 * One abusive MQTT client of the reproducer (abuse-load.ts), run as its own process so
 * that it can die the way a crashed or killed device does: process.exit() with
 * publishes still in flight, no DISCONNECT.
 *
 *   node --import tsx broker/bench/abuse-client.ts '<json ClientSpec>'
 *
 * A publisher keeps `inflight` publishes of `payloadBytes` bytes outstanding on `topic`
 * (QoS 0: until written to the socket; QoS 1: until PUBACK) and starts a new one as each
 * completes. A subscriber subscribes to `topic` and counts what it receives. Both send
 * { type: 'ready' } over IPC once connected (and subscribed), { type: 'count', count } every
 * 100 ms, and on { type: 'stop' } report { type: 'count', count } and call process.exit() at once.
 */
import mqtt from 'mqtt';

export interface ClientSpec {
  role: 'publisher' | 'subscriber';
  port: number;
  topic: string;
  qos: 0 | 1;
  clientId: string;
  username?: string;
  password?: string;
  /** Publisher only. */
  inflight?: number;
  payloadBytes?: number;
  /** How long the connect may take before the client gives up (default 10 s). */
  connectTimeoutMs?: number;
}

const spec = JSON.parse(process.argv[2] ?? '{}') as ClientSpec;

const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${spec.port}`, {
  protocolVersion: 4,
  clientId: spec.clientId,
  clean: true,
  reconnectPeriod: 0,
  connectTimeout: spec.connectTimeoutMs ?? 10_000,
  ...(spec.username !== undefined && { username: spec.username, password: spec.password }),
});

let count = 0;
let running = true;

if (spec.role === 'subscriber') {
  client.on('message', () => count++);
  await client.subscribeAsync(spec.topic, { qos: spec.qos });
} else {
  const payload = Buffer.alloc(spec.payloadBytes ?? 200, 0x61);
  const maxInflight = spec.inflight ?? 100;
  let inflight = 0;
  let scheduled = false;
  // mqtt.js completes a QoS 0 publish synchronously while the socket accepts data, so
  // refills are scheduled rather than nested in the completion callback.
  const refill = () => {
    scheduled = false;
    while (running && inflight < maxInflight) {
      inflight++;
      client.publish(spec.topic, payload, { qos: spec.qos }, done);
    }
  };
  const done = (error?: Error) => {
    inflight--;
    if (!error) count++;
    if (running && !scheduled) {
      scheduled = true;
      setImmediate(refill);
    }
  };
  refill();
  client.on('error', () => (running = false));
  client.on('close', () => (running = false));
}

// The count so far, now and then, so the parent can tell how much load was carried while
// the phase runs (and still knows it if this process has to be killed).
setInterval(() => process.send?.({ type: 'count', count }), 100).unref();

process.on('message', (message: { type?: string }) => {
  if (message.type !== 'stop') return;
  running = false;
  // Abruptly: no DISCONNECT, publishes in flight, as a crashed device would leave them.
  process.send?.({ type: 'count', count }, () => process.exit(0));
});
process.on('disconnect', () => process.exit(0));
process.send?.({ type: 'ready' });
