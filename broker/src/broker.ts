/**
 * The district MQTT broker: aedes behind a TCP server, with per-principal credentials
 * and the per-school ACL of acl.ts.
 *
 * Identity comes only from the credentials a client authenticated with (remembered per
 * connection below); the MQTT client id is chosen by the client and proves nothing.
 * Every refusal — connect, publish, subscribe, delivery — is logged with who, what and
 * why, and counted by reason in the BrokerStats the broker publishes (retained) on
 * districtTopics.brokerStats.
 */
import type { EventEmitter } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { Aedes, type AedesPublishPacket, type AuthenticateError, type Client, type Subscription } from 'aedes';
import { pino, type Logger } from 'pino';
import { LIMITS, districtTopics, encode, type BrokerStats } from '@schoolops/device-profiles';
import { mayPublish, mayReceive, maySubscribe, principalOf, type Principal } from './acl.ts';
import { ClientIdRegistry } from './client-ids.ts';
import {
  hashPassword,
  loadCredentials,
  parseCredentials,
  verifyPassword,
  type ClientCredential,
  type CredentialsFile,
} from './credentials.ts';

export interface DistrictBrokerOptions {
  /** TCP port; 0 picks a free one (see DistrictBroker.port). */
  port?: number;
  /** Interface to listen on. Default 127.0.0.1: exposing the broker is a decision. */
  host?: string;
  /** The credentials document, or the path of its JSON file. */
  credentials: CredentialsFile | string;
  logger?: Logger;
  /** How often BrokerStats are published. Default 10 s. */
  statsIntervalMs?: number;
  /** How long a socket may stay connected without sending CONNECT before it is dropped. Default 10 s. */
  connectTimeoutMs?: number;
}

export interface DistrictBroker {
  /** The port actually listened on. */
  port: number;
  stats(): BrokerStats;
  /** Publish final stats, disconnect every client and stop listening. */
  close(): Promise<void>;
}

/** Why something was refused; the keys of BrokerStats.refused. */
export const REFUSAL_REASONS = [
  'missing_credentials',
  'unknown_user',
  'bad_credentials',
  'client_id_taken',
  /** Refused by aedes itself: an empty client id asking for a persistent session (MQTT-3.1.3-8). */
  'client_id_rejected',
  /** A packet over LIMITS.districtPacketBytes; aedes closes the connection from its header. */
  'packet_too_large',
  'publish_denied',
  'subscribe_denied',
  'forward_denied',
] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

/**
 * How long a subscriber's full socket may block delivery before it is dropped. aedes
 * waits for 'drain' with a bounded number of messages in flight, so one stalled client
 * (a school on a failing link) would otherwise stall delivery to everyone.
 */
const DRAIN_TIMEOUT_MS = 15_000;
/** A socket that has not sent CONNECT by then is dropped. */
const CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_STATS_INTERVAL_MS = 10_000;

/**
 * Largest MQTT packet accepted, fixed header included. aedes enforces it as the bytes
 * arrive (broker/patches/aedes+1.2.0.patch), before buffering an oversized body.
 */
const MAX_PACKET_BYTES = LIMITS.districtPacketBytes;

/** CONNACK return codes (MQTT 3.1.1, 3.2.2.3). */
const CONNACK_IDENTIFIER_REJECTED = 2;
const CONNACK_BAD_USERNAME_OR_PASSWORD = 4;

/** An error aedes raises because we refused something (already logged and counted). */
class Refusal extends Error {
  constructor(
    readonly reason: RefusalReason,
    detail: string,
  ) {
    super(detail);
    this.name = 'Refusal';
  }
}

function authError(reason: RefusalReason, returnCode: number): AuthenticateError {
  return Object.assign(new Refusal(reason, 'connection refused'), {
    returnCode: returnCode as AuthenticateError['returnCode'],
  });
}

/** The part of aedes' persistence we use; aedes does not type it. */
interface SubscriptionStore {
  removeSubscriptions(client: Client, topics: string[]): Promise<void>;
}

export async function startDistrictBroker(opts: DistrictBrokerOptions): Promise<DistrictBroker> {
  const logger = (opts.logger ?? pino({ name: 'district-broker' })).child({ component: 'broker' });
  const credentials =
    typeof opts.credentials === 'string'
      ? await loadCredentials(opts.credentials)
      : parseCredentials(opts.credentials, '<inline>');
  const byUsername = new Map<string, ClientCredential>(credentials.clients.map((entry) => [entry.username, entry]));

  // Unknown usernames are checked against a throwaway hash, so a refusal takes as long
  // whether or not the user exists and timing does not reveal which gateways exist.
  const decoyHash = await hashPassword('decoy-password-never-matches');

  const principals = new WeakMap<Client, Principal>();
  // Peer addresses, kept from accept: aedes reports some refusals (packet_too_large) after
  // it destroyed the socket, which then no longer knows its peer.
  const remotes = new WeakMap<object, string>();
  const clientIds = new ClientIdRegistry();
  const startedAt = Date.now();
  const refused = Object.fromEntries(REFUSAL_REASONS.map((reason) => [reason, 0])) as Record<RefusalReason, number>;

  function refuse(
    reason: RefusalReason,
    detail: string,
    who: { client: Client | null; username?: string | undefined; topic?: string },
  ): void {
    refused[reason]++;
    const { client, topic } = who;
    const username = who.username ?? (client ? principals.get(client)?.username : undefined);
    const remote = client ? remotes.get(client.conn) : undefined;
    logger.warn({ reason, detail, username, clientId: client?.id, remote, topic }, `refused: ${reason}`);
  }

  async function identify(
    username: string | undefined,
    password: Buffer | undefined,
  ): Promise<{ ok: true; entry: ClientCredential } | { ok: false; reason: RefusalReason; detail: string }> {
    if (!username || !password || password.length === 0) {
      return { ok: false, reason: 'missing_credentials', detail: 'CONNECT without username and password' };
    }
    const entry = byUsername.get(username);
    const matches = await verifyPassword(password, entry?.passwordHash ?? decoyHash);
    if (!entry) return { ok: false, reason: 'unknown_user', detail: 'no such user in the credentials file' };
    if (!matches) return { ok: false, reason: 'bad_credentials', detail: 'wrong password' };
    return { ok: true, entry };
  }

  const aedes = await Aedes.createBroker({
    drainTimeout: DRAIN_TIMEOUT_MS,
    connectTimeout: opts.connectTimeoutMs ?? CONNECT_TIMEOUT_MS,
    maxPacketSize: MAX_PACKET_BYTES,

    authenticate(client, username, password, done) {
      identify(username, password).then(
        (result) => {
          if (!result.ok) {
            refuse(result.reason, result.detail, { client, username });
            return done(authError(result.reason, CONNACK_BAD_USERNAME_OR_PASSWORD), false);
          }
          // The socket may have gone while scrypt ran; aedes drops the connect then.
          if (client.closed) return done(null, false);
          const principal = principalOf(result.entry);
          if (!clientIds.claim(client, principal.username)) {
            refuse('client_id_taken', `client id is in use by ${clientIds.ownerOf(client.id)}`, { client, username });
            return done(authError('client_id_taken', CONNACK_IDENTIFIER_REJECTED), false);
          }
          principals.set(client, principal);
          logger.info({ username, clientId: client.id, role: principal.role }, 'client authenticated');
          done(null, true);
        },
        (error: unknown) => {
          logger.error({ err: error, username, clientId: client.id }, 'authentication failed unexpectedly');
          done(authError('bad_credentials', CONNACK_BAD_USERNAME_OR_PASSWORD), false);
        },
      );
    },

    // Also called for a client's last will, when it is published. aedes passes a null
    // client for a will left behind by a broker that died (clustered persistence); with
    // no principal to judge it by, it is refused like everything else unknown.
    authorizePublish(client, packet, done) {
      const principal = client ? principals.get(client) : undefined;
      const decision = principal
        ? mayPublish(principal, packet.topic)
        : { allowed: false as const, reason: 'no authenticated principal' };
      if (decision.allowed) return done(null);
      refuse('publish_denied', decision.reason, { client, topic: packet.topic });
      // MQTT 3.1.1 has no negative PUBACK: aedes closes the connection (MQTT-3.3.5-2).
      done(new Refusal('publish_denied', decision.reason));
    },

    authorizeSubscribe(client, subscription, done) {
      const principal = principals.get(client);
      const decision = principal
        ? maySubscribe(principal, subscription.topic)
        : { allowed: false as const, reason: 'no authenticated principal' };
      if (decision.allowed) return done(null, subscription);
      refuse('subscribe_denied', decision.reason, { client, topic: subscription.topic });
      // A null subscription is answered with SUBACK 0x80 (failure); the connection stays.
      done(null, null);
    },

    authorizeForward(client, packet): AedesPublishPacket | null {
      const principal = principals.get(client);
      const decision = principal
        ? mayReceive(principal, packet.topic)
        : { allowed: false as const, reason: 'no authenticated principal' };
      if (decision.allowed) return packet;
      refuse('forward_denied', decision.reason, { client, topic: packet.topic });
      return null;
    },
  });

  // Unpatched aedes would ignore maxPacketSize without a word (and keep the crash of
  // DESIGN.md section 8): refuse to run without broker/patches applied.
  if ((aedes as unknown as { maxPacketSize?: unknown }).maxPacketSize !== MAX_PACKET_BYTES) {
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    throw new Error('aedes is not patched (no maxPacketSize): run `npm install`, whose postinstall applies broker/patches');
  }

  // In a non-clean session, aedes stores every filter of a SUBSCRIBE packet once any of
  // them is granted, refused ones included, and queues QoS>0 messages for them while the
  // client is away. Delivery is still refused (authorizeForward), but drop the refused
  // filters so that queue does not grow meanwhile.
  const subscriptionStore = (aedes as unknown as { persistence: SubscriptionStore }).persistence;
  aedes.on('subscribe', (subscriptions: Subscription[], client: Client) => {
    if (client.clean) return;
    // aedes reports a refused filter with the SUBACK failure code 0x80 as its qos.
    const refusedTopics = subscriptions.filter((sub) => (sub.qos as number) === 0x80).map((sub) => sub.topic);
    if (refusedTopics.length === 0) return;
    subscriptionStore.removeSubscriptions(client, refusedTopics).catch((error: unknown) => {
      logger.error({ err: error, clientId: client.id }, 'could not drop refused subscriptions');
    });
  });
  // Refusals aedes makes itself, before or outside our hooks: counted and logged like ours.
  function countedByAedes(client: Client, error: Error): boolean {
    if ((error as { code?: unknown }).code === 'MQTT_PACKET_TOO_LARGE') {
      refuse('packet_too_large', error.message, { client });
      return true;
    }
    // A CONNACK 0x02 aedes sent before authenticate ran (ours are Refusals).
    if ((error as { errorCode?: unknown }).errorCode === CONNACK_IDENTIFIER_REJECTED) {
      refuse('client_id_rejected', 'empty client id with CleanSession=0, or client id too long', { client });
      return true;
    }
    return false;
  }
  aedes.on('clientError', (client: Client, error: Error) => {
    if (!(error instanceof Refusal) && !countedByAedes(client, error)) {
      logger.debug({ clientId: client.id, err: error }, 'client error');
    }
  });
  aedes.on('connectionError', (client: Client, error: Error) => {
    if (!(error instanceof Refusal) && !countedByAedes(client, error)) {
      logger.debug({ clientId: client.id, err: error }, 'connection error');
    }
  });
  // aedes emits 'error' for persistence failures (its typings omit it); unhandled, an
  // 'error' event would throw and take every school's connection down with it.
  const emitter: EventEmitter = aedes;
  emitter.on('error', (error: Error) => logger.error({ err: error }, 'broker error'));

  function stats(): BrokerStats {
    return { ts: Date.now(), startedAt, clientsConnected: aedes.connectedClients, refused: { ...refused } };
  }

  function publishStats(): Promise<void> {
    return new Promise((resolve) => {
      aedes.publish(
        { cmd: 'publish', topic: districtTopics.brokerStats, payload: encode(stats()), qos: 0, retain: true, dup: false },
        (error) => {
          if (error) logger.error({ err: error }, 'could not publish broker stats');
          resolve();
        },
      );
    });
  }

  // Track sockets so close() can end those aedes does not know yet (no CONNECT sent).
  const sockets = new Set<Socket>();
  const server = createServer(aedes.handle);
  server.on('connection', (socket) => {
    sockets.add(socket);
    if (socket.remoteAddress) remotes.set(socket, socket.remoteAddress);
    socket.once('close', () => sockets.delete(socket));
  });

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    throw error;
  }
  server.on('error', (error) => logger.error({ err: error }, 'server error'));

  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : (opts.port ?? 0);
  logger.info({ host: opts.host ?? '127.0.0.1', port, clients: credentials.clients.length }, 'district broker listening');

  await publishStats();
  const statsTimer = setInterval(() => void publishStats(), opts.statsIntervalMs ?? DEFAULT_STATS_INTERVAL_MS);
  // The server keeps the process alive while it runs; the timer must not outlive it.
  statsTimer.unref();

  let closing: Promise<void> | undefined;
  async function shutdown(): Promise<void> {
    clearInterval(statsTimer);
    const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
    await publishStats();
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    for (const socket of sockets) socket.destroy();
    await serverClosed;
    logger.info({ port }, 'district broker closed');
  }

  return {
    port,
    stats,
    close: () => (closing ??= shutdown()),
  };
}
