/**
 * The aedes changes of broker/patches/aedes+1.2.0.patch, on a plain aedes (none of our
 * authentication or ACL), over real sockets:
 *
 *  - a zero-length client id with CleanSession=0 is refused with CONNACK 0x02
 *    (MQTT-3.1.3-8), while with CleanSession=1 it is still accepted (MQTT-3.1.3-6);
 *  - maxPacketSize: an oversized packet closes that connection as soon as its fixed
 *    header arrives, whether its body comes at once or trickles in, the broker does not
 *    buffer it, and other clients carry on.
 *
 * Without the patch every test here fails.
 */
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Aedes, type AedesOptions, type Client } from 'aedes';
import type { MqttClient } from 'mqtt';
import { closed, connect, end, record, waitFor } from './helpers.ts';
import { connectPacket, publishHead, rawConnect, rawConnection, trickle, type RawConnection } from './raw-mqtt.ts';

const MiB = 1024 * 1024;

interface PlainBroker {
  aedes: Aedes;
  port: number;
  /** clientError and connectionError events, in order. */
  errors: { clientId: string | null; error: Error & { code?: string } }[];
}

const running: { server: Server; aedes: Aedes }[] = [];
const clients: MqttClient[] = [];
const raws: RawConnection[] = [];

async function startAedes(options: AedesOptions & { maxPacketSize?: number } = {}): Promise<PlainBroker> {
  const aedes = await Aedes.createBroker(options);
  const server = createServer(aedes.handle);
  running.push({ server, aedes });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const errors: PlainBroker['errors'] = [];
  const onError = (client: Client, error: Error) => errors.push({ clientId: client.id, error });
  aedes.on('clientError', onError);
  aedes.on('connectionError', onError);
  return { aedes, port: typeof address === 'object' && address ? address.port : 0, errors };
}

async function open(port: number, clientId: string): Promise<MqttClient> {
  const client = await connect(port, { clientId });
  clients.push(client);
  return client;
}

/** A subscriber and a publisher that did nothing wrong still exchange a message. */
async function stillServes(port: number): Promise<void> {
  const subscriber = await open(port, `bystander-sub-${clients.length}`);
  const publisher = await open(port, `bystander-pub-${clients.length}`);
  const received = record(subscriber);
  await subscriber.subscribeAsync('bystanders/#', { qos: 1 });
  await publisher.publishAsync('bystanders/hello', 'still here', { qos: 1 });
  await waitFor(() => received.some((m) => m.payload === 'still here'), 'a bystander message');
}

afterEach(async () => {
  await end(...clients.splice(0));
  for (const raw of raws.splice(0)) raw.socket.destroy();
  for (const { server, aedes } of running.splice(0)) {
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

describe('zero-length client id (MQTT-3.1.3-7, -8)', () => {
  it('refuses CleanSession=0 with CONNACK 0x02 (identifier rejected) and closes', async () => {
    const broker = await startAedes();
    const { connection, returnCode } = await rawConnect(broker.port, { clientId: '', clean: false });
    raws.push(connection);
    expect(returnCode).toBe(2);
    await connection.closedWithin();
    expect(broker.aedes.connectedClients).toBe(0);
    expect(broker.errors.map((e) => e.error.message)).toContain('identifier rejected');
  });

  it('still accepts CleanSession=1, with an id the broker assigns (MQTT-3.1.3-6)', async () => {
    const broker = await startAedes();
    const { connection, returnCode } = await rawConnect(broker.port, { clientId: '', clean: true });
    raws.push(connection);
    expect(returnCode).toBe(0);
    await waitFor(() => broker.aedes.connectedClients === 1, 'the client to be registered');
    expect(connection.isClosed()).toBe(false);
  });

  it('a named client with CleanSession=0 is unaffected', async () => {
    const broker = await startAedes();
    const { connection, returnCode } = await rawConnect(broker.port, { clientId: 'named', clean: false });
    raws.push(connection);
    expect(returnCode).toBe(0);
  });
});

describe('maxPacketSize', () => {
  it('counts the whole packet: exactly the limit is delivered, one byte more closes the connection', async () => {
    const broker = await startAedes({ maxPacketSize: 1024 });
    const subscriber = await open(broker.port, 'sub');
    const received = record(subscriber);
    await subscriber.subscribeAsync('t', { qos: 0 });
    // PUBLISH to 't' at QoS 0: 1 byte type, 2 bytes Remaining Length (>= 128), 3 bytes topic.
    const atLimit = 1024 - 1 - 2 - 3;

    const exact = await rawConnect(broker.port, { clientId: 'exact', clean: true });
    raws.push(exact.connection);
    exact.connection.socket.write(Buffer.concat([publishHead('t', atLimit), Buffer.alloc(atLimit, 0x62)]));
    await waitFor(() => received.length === 1, 'the packet of exactly maxPacketSize bytes');
    expect(received[0]!.payload.length).toBe(atLimit);

    const over = await rawConnect(broker.port, { clientId: 'over', clean: true });
    raws.push(over.connection);
    over.connection.socket.write(Buffer.concat([publishHead('t', atLimit + 1), Buffer.alloc(atLimit + 1, 0x63)]));
    await over.connection.closedWithin();
    const error = broker.errors.find((e) => e.clientId === 'over')?.error;
    expect(error?.code).toBe('MQTT_PACKET_TOO_LARGE');
    expect(error?.message).toContain('1025 bytes');
    expect(received).toHaveLength(1);
    expect(exact.connection.isClosed()).toBe(false);
  });

  it('follows packet boundaries however the bytes are split, and refuses a header split across writes', async () => {
    const broker = await startAedes({ maxPacketSize: 64 * 1024 });
    const subscriber = await open(broker.port, 'sub');
    const received = record(subscriber);
    await subscriber.subscribeAsync('split/#', { qos: 0 });
    const { connection } = await rawConnect(broker.port, { clientId: 'splitter', clean: true });
    raws.push(connection);
    connection.socket.setNoDelay(true);

    // Remaining Lengths of 1, 2 and 3 bytes, around each boundary.
    const sizes = [0, 1, 120, 121, 122, 300, 16_370, 16_380, 16_390, 40_000, 5];
    const stream = Buffer.concat(sizes.map((n) => Buffer.concat([publishHead('split/x', n), Buffer.alloc(n, 0x6b)])));
    const slices = [1, 2, 3, 1000, 7, 2500];
    for (let offset = 0, i = 0; offset < stream.length; i++) {
      const end = Math.min(stream.length, offset + slices[i % slices.length]!);
      connection.socket.write(stream.subarray(offset, end));
      offset = end;
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await waitFor(() => received.length === sizes.length, `${sizes.length} messages`);
    expect(received.map((m) => m.payload.length)).toEqual(sizes);
    expect(connection.isClosed()).toBe(false);

    // A header declaring 70 000 bytes, its Remaining Length arriving one byte at a time.
    const head = publishHead('split/x', 70_000);
    for (const byte of head.subarray(0, 4)) {
      connection.socket.write(Buffer.from([byte]));
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await connection.closedWithin();
    expect(broker.errors.find((e) => e.clientId === 'splitter')?.error.code).toBe('MQTT_PACKET_TOO_LARGE');
  });

  it('a 2 MiB publish closes that connection only; it is not delivered and other clients carry on', async () => {
    const broker = await startAedes({ maxPacketSize: 1 * MiB });
    const subscriber = await open(broker.port, 'sub');
    const received = record(subscriber);
    await subscriber.subscribeAsync('big/#', { qos: 0 });
    const abuser = await open(broker.port, 'abuser');

    abuser.publish('big/one', Buffer.alloc(2 * MiB, 0x78), { qos: 0 });
    await closed(abuser);

    expect(broker.errors.find((e) => e.clientId === 'abuser')?.error.code).toBe('MQTT_PACKET_TOO_LARGE');
    await stillServes(broker.port);
    expect(subscriber.connected).toBe(true);
    expect(received.filter((m) => m.topic === 'big/one')).toHaveLength(0);
  });

  it('a declared huge packet whose body trickles in is refused from its header, without buffering the body', async () => {
    const broker = await startAedes({ maxPacketSize: 1 * MiB });
    const connected = await rawConnect(broker.port, { clientId: 'trickler', clean: true });
    raws.push(connected.connection);
    const before = process.memoryUsage().arrayBuffers;

    // Declares 200 MiB; sends up to 16 MiB of it, 256 KiB every 5 ms, unless cut off.
    const written = await trickle(connected.connection, publishHead('slow/drip', 200 * MiB), {
      chunkBytes: 256 * 1024,
      intervalMs: 5,
      maxBytes: 16 * MiB,
    });
    const grown = process.memoryUsage().arrayBuffers - before;

    // Unpatched aedes keeps the connection and holds all 16 MiB written in its parser.
    expect(
      { closed: connected.connection.isClosed(), written: written < 4 * MiB, grown: grown < 4 * MiB },
      `wrote ${(written / MiB).toFixed(2)} MiB; the process's buffers grew ${(grown / MiB).toFixed(2)} MiB`,
    ).toEqual({ closed: true, written: true, grown: true });
    expect(broker.errors.find((e) => e.clientId === 'trickler')?.error.code).toBe('MQTT_PACKET_TOO_LARGE');
    await stillServes(broker.port);
  });

  it('applies before CONNECT too, to a connection that has no client yet', async () => {
    const broker = await startAedes({ maxPacketSize: 16 * 1024 });
    const connection = await rawConnection(broker.port);
    raws.push(connection);
    // A CONNECT with a 60 000-byte password.
    connection.socket.write(connectPacket({ clientId: 'c', clean: true, username: 'u', password: 'p'.repeat(60_000) }));
    await connection.closedWithin();
    expect(broker.errors.find((e) => e.clientId === null)?.error.code).toBe('MQTT_PACKET_TOO_LARGE');
  });

  it('has a default: a packet declaring the MQTT maximum (256 MiB) is refused from its header', async () => {
    const broker = await startAedes();
    const connected = await rawConnect(broker.port, { clientId: 'default-limit', clean: true });
    raws.push(connected.connection);
    const written = await trickle(connected.connection, publishHead('slow/drip', 268_435_455 - 20), {
      chunkBytes: 256 * 1024,
      intervalMs: 5,
      maxBytes: 8 * MiB,
    });
    expect(connected.connection.isClosed()).toBe(true);
    expect(written).toBeLessThan(4 * MiB);
  });

  it('0 disables the limit', async () => {
    const broker = await startAedes({ maxPacketSize: 0 });
    const subscriber = await open(broker.port, 'sub');
    const received = record(subscriber);
    await subscriber.subscribeAsync('big/#', { qos: 0 });
    const publisher = await open(broker.port, 'pub');
    await publisher.publishAsync('big/one', Buffer.alloc(2 * MiB, 0x78), { qos: 1 });
    await waitFor(() => received.length === 1, 'the 2 MiB message');
    expect(publisher.connected).toBe(true);
  });
});
