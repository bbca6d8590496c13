/**
 * The school's own MQTT broker (embedded aedes): MQTT-native devices publish their state
 * here. Every device publish is acknowledged (MQTT-3.3.5-2 allows a positive ack for a
 * publish we refuse), handed to the intake, and never routed onwards, except commands the
 * agent itself sends to a device. A device may subscribe only to its own command topic.
 */
import { createServer, type AddressInfo, type Server } from 'node:net';
import { Aedes, type Client, type PublishPacket } from 'aedes';
import { LIMITS, localTopics, parseLocalCommandTopic, parseLocalStateTopic, type Reading } from '@schoolops/device-profiles';
import type { Logger } from 'pino';
import type { DeviceIntake } from './device-intake.ts';

export interface LocalBroker {
  port: number;
  /** Send a command payload to an MQTT-native device. */
  sendToDevice(deviceId: string, payload: Buffer): Promise<void>;
  connectedDevices(): number;
  close(): Promise<void>;
}

export async function startLocalBroker(opts: {
  host: string;
  port: number;
  intake: DeviceIntake;
  /** Resolves once the reading is durably queued; the device's PUBACK waits for it. */
  onReading: (reading: Reading) => Promise<void>;
  logger: Logger;
}): Promise<LocalBroker> {
  const { intake, logger } = opts;
  // Above the device payload limit on purpose: a message between the two is refused as
  // 'oversized' and the device stays connected; only a far larger one closes the connection
  // (maxPacketSize comes from our aedes patch, broker/patches/).
  const broker = await Aedes.createBroker({ drainTimeout: 10_000, maxPacketSize: 16 * LIMITS.devicePayloadBytes });

  broker.authorizePublish = (client: Client | null, packet: PublishPacket, callback: (error?: Error | null) => void) => {
    if (!client) return callback(null); // the agent's own publishes (commands to devices)
    const topic = packet.topic;
    if (parseLocalCommandTopic(topic) !== null) {
      // A device trying to command another device: refuse and close its connection.
      intake.reject(client.id, 'bad_topic', `device may not publish commands: ${topic}`);
      return callback(new Error('devices may not publish commands'));
    }
    const result = intake.accept(parseLocalStateTopic(topic), topic, packet.payload as Buffer);
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

  broker.authorizeSubscribe = (client, subscription, callback) => {
    const allowed = subscription.topic === localTopics.deviceCommand(client.id);
    if (!allowed) intake.reject(client.id, 'bad_topic', `subscription refused: ${subscription.topic}`);
    callback(null, allowed ? subscription : null);
  };

  // Nothing a device publishes is delivered to other devices; only agent-published commands are.
  broker.authorizeForward = (_client, packet) => (parseLocalCommandTopic(packet.topic) !== null ? packet : null);

  broker.on('clientError', (client, error) => logger.debug({ client: client?.id, err: error.message }, 'device connection error'));

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
    close: async () => {
      // aedes first: it disconnects the devices, which net.Server.close() would otherwise wait for.
      const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await serverClosed;
    },
  };
}
