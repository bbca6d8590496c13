/**
 * The school's own MQTT broker (embedded aedes): MQTT-native devices publish their state
 * here. Every device publish is acknowledged (MQTT-3.3.5-2 allows a positive ack for a
 * publish we refuse), handed to the intake, and never routed onwards, except commands the
 * agent itself sends to a device. A device may subscribe only to its own command topic.
 *
 * What a device sends is its choice, so nothing it sends may grow the gateway without
 * bound or reach aedes' internals:
 *  - A device message is consumed here and never published inside aedes: not retained
 *    (a retained store of junk topics grows for ever), never seen by aedes' own `$SYS`
 *    listeners (a `$SYS/<id>/new/clients` message names a client for aedes to disconnect).
 *  - Refusals whose subject the device makes up (a topic, a device id that is not ours,
 *    its client id) are logged through a bounded throttle and counted in the intake's
 *    counters; only ids of this school's devices reach the intake's own per-device log map.
 *  - Client ids, topic depth, packet size and QoS 2 in flight are bounded; a device over a
 *    bound is disconnected and counted (LocalBroker.stats).
 */
import type { EventEmitter } from 'node:events';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Aedes, type AedesOptions, type Client, type PublishPacket } from 'aedes';
import { LIMITS, localTopics, parseLocalCommandTopic, parseLocalStateTopic, type Reading, type RejectReason } from '@schoolops/device-profiles';
import type { Logger } from 'pino';
import type { DeviceIntake } from './device-intake.ts';

/** Why the school broker itself cut a device's connection off (LocalBrokerStats.refused). */
export const LOCAL_REFUSAL_REASONS = [
  /** A client id over MAX_CLIENT_ID_CHARS, or empty with CleanSession=0 (MQTT-3.1.3-8). */
  'client_id_rejected',
  /** A packet over the broker's maxPacketSize (16 device payloads). */
  'packet_too_large',
  /** A topic or filter deeper than aedes' maxTopicLevels (100). */
  'topic_too_deep',
  /** More than MAX_INFLIGHT_QOS2 QoS 2 publishes awaiting PUBREL. */
  'inflight_exceeded',
  /** A PUBLISH or SUBSCRIBE handled before its connection's CONNECT was accepted. */
  'not_connected',
] as const;
export type LocalRefusalReason = (typeof LOCAL_REFUSAL_REASONS)[number];

export interface LocalBrokerStats {
  /** Connections the broker refused or cut off itself, by reason (device messages it refuses are in the intake's counters). */
  refused: Record<LocalRefusalReason, number>;
  /** Refusal log lines held back so that a flood of bad input is not a flood of log lines. */
  logLinesSuppressed: number;
  /** Keys the log throttle remembers now; never more than LOG_THROTTLE.maxKeys. */
  logThrottleKeys: number;
}

export interface LocalBroker {
  port: number;
  /** Send a command payload to an MQTT-native device. */
  sendToDevice(deviceId: string, payload: Buffer): Promise<void>;
  connectedDevices(): number;
  stats(): LocalBrokerStats;
  close(): Promise<void>;
}

/** Longest client id a device may use: ids of devices are at most 96 characters. */
export const MAX_CLIENT_ID_CHARS = 256;
/**
 * Inbound QoS 2 publishes a device may leave awaiting PUBREL (aedes' default is 1000, each
 * kept whole until its PUBREL: 1000 packets of 256 KiB would pin 256 MB per connection).
 * Devices publish at QoS 1; a QoS 2 device pipelining 16 messages is still served.
 */
const MAX_INFLIGHT_QOS2 = 16;
/** How much of a topic or client id a log line carries: both can run to 64 KiB. */
const LOGGED_CHARS = 120;
/**
 * Refusal log lines: one per (reason, client) per interval, at most `maxLinesPerWindow` in
 * all per interval, in a map of at most `maxKeys`. The interval is the intake's own.
 */
const LOG_THROTTLE = { everyMs: 10_000, maxKeys: 1024, maxLinesPerWindow: 20 } as const;

const clip = (text: string) => (text.length <= LOGGED_CHARS ? text : `${text.slice(0, LOGGED_CHARS)}…(${text.length} chars)`);

/**
 * Which refusal lines are written (the rule of the district broker's broker/src/log-throttle.ts;
 * the gateway does not depend on the district broker's package). Map entries are kept least
 * recently written first, and the oldest goes past maxKeys.
 */
class LogThrottle {
  suppressed = 0;
  private suppressedSinceLine = 0;
  private readonly lastWritten = new Map<string, number>();
  private windowStart = Number.NEGATIVE_INFINITY;
  private linesInWindow = 0;

  constructor(private readonly now: () => number) {}

  /** Lines suppressed since the last one written, if a line for `key` may be written now; else undefined. */
  admit(key: string): number | undefined {
    const now = this.now();
    if (now - this.windowStart >= LOG_THROTTLE.everyMs) {
      this.windowStart = now;
      this.linesInWindow = 0;
    }
    const last = this.lastWritten.get(key);
    if ((last !== undefined && now - last < LOG_THROTTLE.everyMs) || this.linesInWindow >= LOG_THROTTLE.maxLinesPerWindow) {
      this.suppressed++;
      this.suppressedSinceLine++;
      return undefined;
    }
    this.linesInWindow++;
    this.lastWritten.delete(key);
    this.lastWritten.set(key, now);
    if (this.lastWritten.size > LOG_THROTTLE.maxKeys) {
      const oldest = this.lastWritten.keys().next().value;
      if (oldest !== undefined) this.lastWritten.delete(oldest);
    }
    const before = this.suppressedSinceLine;
    this.suppressedSinceLine = 0;
    return before;
  }

  get size(): number {
    return this.lastWritten.size;
  }
}

/** aedes' publish with the client argument its typings leave out. */
type AedesPublish = (packet: PublishPacket, client: Client | null | ((error?: Error) => void), done?: (error?: Error) => void) => void;

export async function startLocalBroker(opts: {
  host: string;
  port: number;
  intake: DeviceIntake;
  /** Resolves once the reading is durably queued; the device's PUBACK waits for it. */
  onReading: (reading: Reading) => Promise<void>;
  logger: Logger;
  /** Clock of the log throttle, in ms. Default: monotonic. Tests move an injected one. */
  now?: () => number;
  /** Where aedes keeps sessions and retained messages. Default: aedes' in-memory store. */
  persistence?: AedesOptions['persistence'];
}): Promise<LocalBroker> {
  const { intake, logger } = opts;
  const throttle = new LogThrottle(opts.now ?? (() => performance.now()));
  const refused = Object.fromEntries(LOCAL_REFUSAL_REASONS.map((reason) => [reason, 0])) as Record<LocalRefusalReason, number>;
  // Clients this broker already cut off: aedes reports each packet of the read it was in.
  const cutOff = new WeakSet<Client>();

  /**
   * A device message refused for a reason the device made up the subject of: counted in
   * the intake's counters (they go to the district in the health report), logged here
   * through the bounded throttle, once per client and reason per interval.
   */
  function rejectMessage(client: Client, reason: RejectReason, subject: string, detail: string): void {
    intake.rejected[reason]++;
    const clientId = clip(client.id ?? '');
    const suppressedBefore = throttle.admit(`message\u0000${reason}\u0000${clientId}`);
    if (suppressedBefore === undefined) return;
    logger.warn(
      { subject: clip(subject), reason, detail, client: clientId, total: intake.rejected[reason], ...(suppressedBefore > 0 && { suppressedBefore }) },
      'device message rejected',
    );
  }

  /** A device the broker cut off itself; counted once per connection. */
  function refuseClient(client: Client, reason: LocalRefusalReason, detail: string): void {
    if (cutOff.has(client)) return;
    cutOff.add(client);
    refused[reason]++;
    const clientId = clip(client.id ?? '');
    const suppressedBefore = throttle.admit(`client\u0000${reason}\u0000${clientId}`);
    if (suppressedBefore === undefined) return;
    logger.warn({ reason, detail, client: clientId, total: refused[reason], ...(suppressedBefore > 0 && { suppressedBefore }) }, 'device connection refused');
  }

  // Above the device payload limit on purpose: a message between the two is refused as
  // 'oversized' and the device stays connected; only a far larger one closes the connection
  // (maxPacketSize comes from our aedes patch, broker/patches/).
  const broker = await Aedes.createBroker({
    drainTimeout: 10_000,
    maxPacketSize: 16 * LIMITS.devicePayloadBytes,
    maxInflightInbound: MAX_INFLIGHT_QOS2,
    ...(opts.persistence !== undefined && { persistence: opts.persistence }),
  });

  broker.authenticate = (client, _username, _password, done) => {
    // MQTT 3.1.1 allows 64 KiB; nothing of ours needs more than a device id.
    if (client.id.length > MAX_CLIENT_ID_CHARS) {
      refuseClient(client, 'client_id_rejected', `client id of ${client.id.length} characters (at most ${MAX_CLIENT_ID_CHARS})`);
      return done(Object.assign(new Error('client id too long'), { returnCode: 2 as const }), false);
    }
    done(null, true);
  };

  // Device messages (and devices' wills) that reach aedes' publish: consumed here, never
  // routed, retained, or seen by aedes' own `$SYS` listeners (see publish below).
  const consumed = new WeakSet<object>();

  broker.authorizePublish = (client: Client | null, packet: PublishPacket, callback: (error?: Error | null) => void) => {
    consumed.add(packet);
    // Only a will whose client is gone comes without one (aedes' clustered-broker path):
    // nothing to judge it by, so it is refused like anything unknown.
    if (!client) return callback(new Error('a will without its client'));
    // aedes can hand over a PUBLISH read in the same burst as its CONNECT before the CONNECT
    // is done (client.id still null): found by the fuzzing benchmark, it crashed the gateway.
    // Nothing is known of the sender yet, so the message is refused like an unknown client's.
    if (typeof client.id !== 'string') {
      refuseClient(client, 'not_connected', 'a PUBLISH before its CONNECT was accepted');
      return callback(new Error('publish before the connection was accepted'));
    }
    const topic = packet.topic;
    const payload = packet.payload as Buffer;
    if (parseLocalCommandTopic(topic) !== null) {
      // A device trying to command another device: refuse and close its connection.
      rejectMessage(client, 'bad_topic', topic, `device may not publish commands: ${clip(topic)}`);
      return callback(new Error('devices may not publish commands'));
    }
    const deviceId = parseLocalStateTopic(topic);
    // Not one of this school's devices: the subject is the device's invention, so it is
    // refused here (the same reasons, in the intake's order) and never reaches the
    // intake's per-device log map.
    if (deviceId === null || !intake.devices.has(deviceId)) {
      if (deviceId === null) rejectMessage(client, 'bad_topic', topic, `not a device state topic: ${clip(topic)}`);
      else if (payload.byteLength > LIMITS.devicePayloadBytes)
        rejectMessage(client, 'oversized', deviceId, `${payload.byteLength} bytes > ${LIMITS.devicePayloadBytes}`);
      else rejectMessage(client, 'unknown_device', deviceId, `no device "${clip(deviceId)}" in this school`);
      return callback(null); // acknowledged, never routed
    }
    const result = intake.accept(deviceId, topic, payload);
    if (!result.ok) return callback(null); // counted by the intake; acknowledged, never routed
    opts.onReading(result.reading).then(
      () => callback(null),
      (error: Error) => {
        // Not on disk (disk full, store closed): no PUBACK, so the device keeps it and resends.
        logger.error({ err: error.message, device: result.reading.deviceId }, 'could not queue a reading; the device will resend it');
        callback(error);
      },
    );
  };

  // aedes publishes an authorized message (store if retained, hand to its emitter, where
  // its `$SYS` listeners live too); a device's message has been consumed by the intake by
  // then, so it ends here. The agent's own commands (sendToDevice) never pass
  // authorizePublish and go on as usual. aedes' handlers and wills call broker.publish.
  const route = broker.publish.bind(broker) as AedesPublish;
  (broker as unknown as { publish: AedesPublish }).publish = (packet, client, done) => {
    if (!consumed.has(packet)) return route(packet, client, done);
    const callback = typeof client === 'function' ? client : done;
    // Asynchronously, as aedes' own publish completes: a read of many packets must not
    // recurse through aedes' read loop.
    setImmediate(() => callback?.());
  };

  broker.authorizeSubscribe = (client, subscription, callback) => {
    if (typeof client?.id !== 'string') {
      if (client) refuseClient(client, 'not_connected', 'a SUBSCRIBE before its CONNECT was accepted');
      return callback(new Error('subscribe before the connection was accepted'), null);
    }
    const allowed = subscription.topic === localTopics.deviceCommand(client.id);
    if (!allowed) rejectMessage(client, 'bad_topic', subscription.topic, `subscription refused: ${clip(subscription.topic)}`);
    callback(null, allowed ? subscription : null);
  };

  // Nothing a device publishes is delivered to other devices; only agent-published commands are.
  broker.authorizeForward = (_client, packet) => (parseLocalCommandTopic(packet.topic) !== null ? packet : null);

  /** Refusals aedes makes itself; it gives the last two only as messages (aedes 1.2.0). */
  function refusalOf(error: Error): LocalRefusalReason | undefined {
    if ((error as { code?: unknown }).code === 'MQTT_PACKET_TOO_LARGE') return 'packet_too_large';
    if ((error as { errorCode?: unknown }).errorCode === 2) return 'client_id_rejected';
    if (error.message === 'topic has too many levels') return 'topic_too_deep';
    if (error.message.startsWith('maxInflightInbound exceeded')) return 'inflight_exceeded';
    return undefined;
  }
  const onClientError = (client: Client, error: Error) => {
    const reason = refusalOf(error);
    if (reason) return refuseClient(client, reason, error.message);
    if (!cutOff.has(client)) logger.debug({ client: client?.id ? clip(client.id) : undefined, err: error.message }, 'device connection error');
  };
  broker.on('clientError', onClientError);
  broker.on('connectionError', onClientError);
  // aedes emits 'error' for persistence failures (its typings omit it); unhandled, it would
  // throw and take the gateway down.
  (broker as unknown as EventEmitter).on('error', (error: Error) => logger.error({ err: error.message }, 'local broker error'));

  const server: Server = createServer(broker.handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  logger.info({ host: opts.host, port }, 'local device broker listening');

  return {
    port,
    sendToDevice: (deviceId, payload) =>
      new Promise((resolve, reject) =>
        broker.publish(
          { cmd: 'publish', topic: localTopics.deviceCommand(deviceId), payload, qos: 1, retain: false, dup: false },
          (error?: Error) => (error ? reject(error) : resolve()),
        ),
      ),
    connectedDevices: () => broker.connectedClients,
    stats: () => ({ refused: { ...refused }, logLinesSuppressed: throttle.suppressed, logThrottleKeys: throttle.size }),
    close: async () => {
      // aedes first: it disconnects the devices, which net.Server.close() would otherwise wait for.
      const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await serverClosed;
    },
  };
}
