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
import { BlockList, createServer, isIP, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import aedesPersistence from 'aedes-persistence';
import { Aedes, type AedesOptions, type AedesPublishPacket, type AuthenticateError, type Client, type Subscription } from 'aedes';
import { pino, type Logger } from 'pino';
import { LIMITS, districtTopics, encode, type BrokerStats } from '@schoolops/device-profiles';
import { mayPublish, mayReceive, maySubscribe, principalOf, type Principal } from './acl.ts';
import { Admission, DEFAULT_ADMISSION_LIMITS, addressKey, type AdmissionLimits } from './admission.ts';
import { clientIdProblem, loggedClientId, sessionIdFor } from './client-ids.ts';
import { LogThrottle, clip } from './log-throttle.ts';
import {
  hashPassword,
  loadCredentials,
  parseCredentials,
  verifyPassword,
  type ClientCredential,
  type CredentialsFile,
} from './credentials.ts';

/**
 * aedes' in-memory persistence (module.exports is the factory), with the two options
 * broker/patches/aedes-persistence+11.0.0.patch adds; its typings know neither.
 */
const memoryPersistence = aedesPersistence as unknown as (opts: {
  maxQueuedPerClient: number;
  onQueueFull: (sessionId: string) => void;
}) => NonNullable<AedesOptions['persistence']>;

export interface DistrictBrokerOptions {
  /** TCP port; 0 picks a free one (see DistrictBroker.port). */
  port?: number;
  /**
   * Interface of the plain MQTT listener. Default 127.0.0.1: exposing the broker is a
   * decision, and a plain listener on any other host is refused unless allowPlainRemote.
   */
  host?: string;
  /**
   * Let the plain listener take a non-loopback host (passwords and every school's data in
   * clear text on the network): only behind a TLS-terminating proxy on a trusted network.
   */
  allowPlainRemote?: boolean;
  /**
   * An MQTT-over-TLS listener beside the plain one: the same aedes, the same credentials,
   * ACL and per-address limits. `cert` may carry the chain after the certificate (PEM).
   * Its host defaults to the plain listener's.
   */
  tls?: { port?: number; host?: string; cert: string | Buffer; key: string | Buffer };
  /** The credentials document, or the path of its JSON file. */
  credentials: CredentialsFile | string;
  logger?: Logger;
  /** How often BrokerStats are published. Default 10 s. */
  statsIntervalMs?: number;
  /** How long a socket may stay connected without sending CONNECT before it is dropped. Default 10 s. */
  connectTimeoutMs?: number;
  /**
   * Per-address limits: open connections, and password checks (a token bucket). Each
   * defaults on its own (DEFAULT_ADMISSION_LIMITS in admission.ts).
   */
  limits?: Partial<AdmissionLimits>;
  /**
   * Where aedes keeps sessions, retained messages and wills. Default: aedes' in-memory
   * store. Tests pass one they can look into.
   */
  persistence?: AedesOptions['persistence'];
  /**
   * QoS 1/2 messages kept for one session that has not acknowledged them (an offline
   * persistent session's queue, or an online one's unacknowledged messages). Past it a
   * message is not queued for that session and counted as `session_queue_full`. Default
   * MAX_QUEUED_PER_SESSION. Applies to the default persistence only.
   */
  maxQueuedPerSession?: number;
  /**
   * Clock of the rate limits and of log throttling, in ms. Default: a monotonic clock
   * (a wall clock set back must not stall the buckets). Tests move an injected one.
   */
  now?: () => number;
}

export interface DistrictBroker {
  /** The port actually listened on. */
  port: number;
  /** The TLS listener's port, null without one. */
  tlsPort: number | null;
  stats(): BrokerStats;
  /** Publish final stats, disconnect every client and stop listening. */
  close(): Promise<void>;
}

/** Why something was refused; the keys of BrokerStats.refused. */
export const REFUSAL_REASONS = [
  'missing_credentials',
  'unknown_user',
  'bad_credentials',
  /**
   * An empty client id asking for a persistent session (MQTT-3.1.3-8, refused by aedes
   * itself), or one over MAX_CLIENT_ID_CHARS (refused before the password is checked).
   */
  'client_id_rejected',
  /**
   * CleanSession=0 with a client id other than the username: each principal may keep one
   * persistent session, under its own name (CONNACK 2). See PERSISTENT_SESSION_RULE.
   */
  'persistent_session_refused',
  /** A QoS 1/2 message not queued for a session already holding maxQueuedPerSession. */
  'session_queue_full',
  /** One address already holds limits.maxConnectionsPerAddress connections: closed at accept. */
  'connection_limit',
  /** One address ran out of password checks (limits.authBurst, limits.authPerSecond): CONNACK 3. */
  'auth_rate_limited',
  /** A topic or filter deeper than aedes' maxTopicLevels (100): aedes closes the connection. */
  'topic_too_deep',
  /** More than MAX_INFLIGHT_QOS2 QoS 2 publishes awaiting PUBREL: aedes closes the connection. */
  'inflight_exceeded',
  /** A packet over LIMITS.districtPacketBytes; aedes closes the connection from its header. */
  'packet_too_large',
  /**
   * A connection to the TLS listener that ended without a TLS session: the client does not
   * trust our certificate, speaks plain MQTT to the TLS port, or never finished the handshake.
   */
  'tls_handshake_failed',
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

/**
 * Inbound QoS 2 publishes one client may leave awaiting PUBREL (aedes' maxInflightInbound,
 * 1000 by default). Each is kept whole until its PUBREL: at 1000 packets of up to 1 MiB a
 * client could pin a gigabyte. Nothing in SchoolOps publishes at QoS 2 (the wire contract
 * uses QoS 1), so a small window costs nobody anything.
 */
const MAX_INFLIGHT_QOS2 = 16;

/**
 * Messages queued per session by default. A gateway's persistent session subscribes to its
 * school's downlink only (commands and acks, a few a minute at most), so a school offline
 * for a long weekend stays well under it; what it bounds is a session nobody comes back
 * for, and the time aedes takes to walk a queue when its session resumes (quadratic in
 * the queue's length: broker/patches/README.md).
 */
export const MAX_QUEUED_PER_SESSION = 1000;

/**
 * Why a persistent session must be named after its principal: MQTT 3.1.1 keeps a session
 * with CleanSession=0, and queues every QoS>0 message for its subscriptions, until the
 * same client id comes back with CleanSession=1, which may be never. A principal free to
 * pick fresh ids could leave sessions behind without end, each queueing for ever (the
 * fuzzing benchmark grew the broker to 3.8 GB that way). One persistent session per
 * principal, whose id is the username, bounds them by the credentials file; clean
 * sessions may use any id (they end with their connection).
 */
export const PERSISTENT_SESSION_RULE = 'CleanSession=0 requires the client id to equal the username';

/** Refusal log lines: one per key per interval, a bounded number per interval in all. */
const REFUSAL_LOG = { everyMs: 10_000, maxKeys: 4096, maxLinesPerWindow: 100 } as const;
/** How much of a topic, or of a username, a refusal key and log line keep. */
const LOGGED_TOPIC_CHARS = 200;
const LOGGED_USERNAME_CHARS = 80;

/** A listener the broker will not open as asked (its message says why and what to do). */
export class ListenerError extends Error {
  override name = 'ListenerError';
}

/** Addresses that stay on this machine: the only ones a plain listener takes by default. */
const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');
LOOPBACK.addSubnet('::ffff:127.0.0.0', 104, 'ipv6');

/**
 * True for 127.0.0.0/8, ::1 (bracketed or not) and "localhost". A wildcard ("0.0.0.0", "::",
 * "") or any other name may reach other machines. The cloud applies the same rule to its
 * plain HTTP listener (it imports this one).
 */
export function isLoopbackHost(host: string): boolean {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (bare.toLowerCase() === 'localhost') return true;
  const family = isIP(bare);
  return family !== 0 && LOOPBACK.check(bare, family === 4 ? 'ipv4' : 'ipv6');
}

/** CONNACK return codes (MQTT 3.1.1, 3.2.2.3). */
const CONNACK_IDENTIFIER_REJECTED = 2;
const CONNACK_SERVER_UNAVAILABLE = 3;
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

/** A TLS server that never listens: connections are handed to it once admitted. */
function makeTlsEngine(
  tls: NonNullable<DistrictBrokerOptions['tls']>,
  handshakeTimeout: number,
  onSession: (socket: TLSSocket) => void,
): TlsServer {
  try {
    return createTlsServer(
      // A handshake holds one of its address's connections: as long as a CONNECT may take.
      { cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2', handshakeTimeout },
      onSession,
    );
  } catch (error) {
    throw new ListenerError(`TLS listener: the certificate or key is not usable (${(error as Error).message})`);
  }
}

/** The part of aedes' persistence we use; aedes does not type it. */
interface SubscriptionStore {
  removeSubscriptions(client: Client, topics: string[]): Promise<void>;
}

export async function startDistrictBroker(opts: DistrictBrokerOptions): Promise<DistrictBroker> {
  const logger = (opts.logger ?? pino({ name: 'district-broker' })).child({ component: 'broker' });
  const host = opts.host ?? '127.0.0.1';
  // Refused before anything listens: a plain listener must not be reachable by mistake.
  if (!opts.allowPlainRemote && !isLoopbackHost(host)) {
    throw new ListenerError(
      `plain MQTT on "${host}" would carry gateway passwords and every school's data in clear text to other machines: ` +
        `listen on 127.0.0.1 and give gateways the TLS listener (tls.port, --tls-port with --tls-cert and --tls-key), ` +
        `or allow it (allowPlainRemote, --allow-plain-remote) when a TLS proxy on this network stands in front`,
    );
  }
  // Made first: a certificate that does not match its key fails here, before aedes starts.
  const tlsEngine = opts.tls
    ? makeTlsEngine(opts.tls, opts.connectTimeoutMs ?? CONNECT_TIMEOUT_MS, (tlsSocket) => {
        if (tlsSocket.remoteAddress) remotes.set(tlsSocket, tlsSocket.remoteAddress);
        aedes.handle(tlsSocket);
      })
    : null;
  const credentials =
    typeof opts.credentials === 'string'
      ? await loadCredentials(opts.credentials)
      : parseCredentials(opts.credentials, '<inline>');
  const byUsername = new Map<string, ClientCredential>(credentials.clients.map((entry) => [entry.username, entry]));

  // Unknown usernames are checked against a throwaway hash, so a refusal takes as long
  // whether or not the user exists and timing does not reveal which gateways exist.
  const decoyHash = await hashPassword('decoy-password-never-matches');

  const principals = new WeakMap<Client, Principal>();
  // The client id each client sent (or aedes assigned), for log lines: once authenticated,
  // client.id is its session id in its principal's namespace (client-ids.ts).
  const sentIds = new WeakMap<Client, string>();
  // Peer addresses, kept from accept: aedes reports some refusals (packet_too_large) after
  // it destroyed the socket, which then no longer knows its peer.
  const remotes = new WeakMap<object, string>();
  const now = opts.now ?? (() => performance.now());
  const admission = new Admission({ ...DEFAULT_ADMISSION_LIMITS, ...opts.limits }, now);
  const refusalLog = new LogThrottle({ ...REFUSAL_LOG, now });
  const startedAt = Date.now();
  const refused = Object.fromEntries(REFUSAL_REASONS.map((reason) => [reason, 0])) as Record<RefusalReason, number>;

  const shownId = (client: Client | null) => (client ? loggedClientId(sentIds.get(client) ?? client.id) : undefined);

  /**
   * Count a refusal and log it, unless the log throttle holds the line back (a flood of
   * refusals would otherwise be a flood of lines): the count always moves.
   */
  function refuse(
    reason: RefusalReason,
    detail: string,
    who: { client: Client | null; username?: string | undefined; clientId?: string; topic?: string; remote?: string | undefined },
  ): void {
    refused[reason]++;
    const { client } = who;
    const username = clip(who.username ?? (client ? principals.get(client)?.username : undefined), LOGGED_USERNAME_CHARS);
    const remote = who.remote ?? (client ? remotes.get(client.conn) : undefined);
    const clientId = who.clientId !== undefined ? loggedClientId(who.clientId) : shownId(client);
    const topic = clip(who.topic, LOGGED_TOPIC_CHARS);
    // Limits are about an address, whatever it sends: one line per address. Anything
    // else is about who did what, so each distinct refusal gets its line.
    const key =
      reason === 'connection_limit' || reason === 'auth_rate_limited'
        ? `${reason}\u0000${addressKey(remote)}`
        : [reason, remote, username, clientId, topic].join('\u0000');
    const suppressedBefore = refusalLog.admit(key);
    if (suppressedBefore === undefined) return;
    logger.warn(
      { reason, detail, username, clientId, remote, topic, total: refused[reason], ...(suppressedBefore > 0 && { suppressedBefore }) },
      `refused: ${reason}`,
    );
  }

  /** A message the persistence did not queue for a full session (sessionId: `<username>:<id>`). */
  function queueFull(sessionId: string): void {
    const username = sessionId.slice(0, sessionId.indexOf(':'));
    const detail = `the session already holds ${opts.maxQueuedPerSession ?? MAX_QUEUED_PER_SESSION} unacknowledged messages`;
    refuse('session_queue_full', detail, { client: null, username, clientId: sessionId.slice(username.length + 1) });
  }

  async function identify(
    username: string,
    password: Buffer,
  ): Promise<{ ok: true; entry: ClientCredential } | { ok: false; reason: RefusalReason; detail: string }> {
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
    maxInflightInbound: MAX_INFLIGHT_QOS2,
    persistence:
      opts.persistence ??
      memoryPersistence({
        maxQueuedPerClient: opts.maxQueuedPerSession ?? MAX_QUEUED_PER_SESSION,
        onQueueFull: (sessionId: string) => queueFull(sessionId),
      }),

    authenticate(client, username, password, done) {
      // Cheap refusals first: nothing below here may cost a password check.
      const idProblem = clientIdProblem(client.id);
      if (idProblem) {
        refuse('client_id_rejected', idProblem, { client, username });
        return done(authError('client_id_rejected', CONNACK_IDENTIFIER_REJECTED), false);
      }
      if (!username || !password || password.length === 0) {
        refuse('missing_credentials', 'CONNECT without username and password', { client, username });
        return done(authError('missing_credentials', CONNACK_BAD_USERNAME_OR_PASSWORD), false);
      }
      // Known from the CONNECT alone: refused before a password check costs anything.
      if (!client.clean && client.id !== username) {
        refuse('persistent_session_refused', PERSISTENT_SESSION_RULE, { client, username });
        return done(authError('persistent_session_refused', CONNACK_IDENTIFIER_REJECTED), false);
      }
      // Every check costs one scrypt, whether the user exists or not (the decoy hash).
      const remote = remotes.get(client.conn);
      if (!admission.takeAuthAttempt(addressKey(remote))) {
        const { authBurst, authPerSecond } = admission.limits;
        refuse('auth_rate_limited', `more than ${authBurst} password checks at once, or ${authPerSecond} a second, from ${addressKey(remote)}`, {
          client,
          username,
        });
        // MQTT 3.1.1 has no "rate exceeded"; "server unavailable" tells a client to come back later.
        return done(authError('auth_rate_limited', CONNACK_SERVER_UNAVAILABLE), false);
      }
      identify(username, password).then(
        (result) => {
          if (!result.ok) {
            refuse(result.reason, result.detail, { client, username });
            return done(authError(result.reason, CONNACK_BAD_USERNAME_OR_PASSWORD), false);
          }
          // The socket may have gone while scrypt ran; aedes drops the connect then.
          if (client.closed) return done(null, false);
          const principal = principalOf(result.entry);
          // From here on aedes keeps this session in the principal's own namespace, so no
          // other principal can take it over, resume it or squat its id (client-ids.ts).
          sentIds.set(client, client.id);
          client.id = sessionIdFor(principal.username, client.id);
          principals.set(client, principal);
          logger.info({ username, clientId: shownId(client), role: principal.role }, 'client authenticated');
          done(null, true);
        },
        (error: unknown) => {
          logger.error({ err: error, username: clip(username, LOGGED_USERNAME_CHARS), clientId: shownId(client) }, 'authentication failed unexpectedly');
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
        ? mayPublish(principal, packet.topic, packet.retain)
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
  // Connections aedes already cut off for one of the refusals below. aedes reports every
  // packet of the read it was parsing when it refused (a QoS 2 flood of 500 packets in one
  // read is 484 errors): the refusal is the connection's, counted once.
  const cutOffByAedes = new WeakSet<Client>();

  // Refusals aedes makes itself, before or outside our hooks: counted and logged like ours.
  function countedByAedes(client: Client, error: Error): boolean {
    const reason = aedesRefusal(error);
    if (!reason) return false;
    if (cutOffByAedes.has(client)) return true;
    cutOffByAedes.add(client);
    refuse(reason.reason, reason.detail, { client });
    return true;
  }

  function aedesRefusal(error: Error): { reason: RefusalReason; detail: string } | undefined {
    if ((error as { code?: unknown }).code === 'MQTT_PACKET_TOO_LARGE') return { reason: 'packet_too_large', detail: error.message };
    // A CONNACK 0x02 aedes sent before authenticate ran (ours are Refusals).
    if ((error as { errorCode?: unknown }).errorCode === CONNACK_IDENTIFIER_REJECTED) {
      return { reason: 'client_id_rejected', detail: 'empty client id with CleanSession=0' };
    }
    // aedes 1.2.0 gives these two only as messages (lib/utils.js validateTopic, aedes.js
    // publish, lib/handlers/publish.js); broker/test/advisories.test.ts fails if they change.
    if (error.message === 'topic has too many levels') {
      return { reason: 'topic_too_deep', detail: 'a topic or filter of more than 100 levels' };
    }
    if (error.message.startsWith('maxInflightInbound exceeded')) {
      return { reason: 'inflight_exceeded', detail: `more than ${MAX_INFLIGHT_QOS2} QoS 2 publishes awaiting PUBREL` };
    }
    return undefined;
  }
  aedes.on('clientError', (client: Client, error: Error) => {
    // After a cut-off, the rest of its read fails with "connection closed": nothing new.
    if (!(error instanceof Refusal) && !countedByAedes(client, error) && !cutOffByAedes.has(client)) {
      logger.debug({ clientId: shownId(client), err: error }, 'client error');
    }
  });
  aedes.on('connectionError', (client: Client, error: Error) => {
    if (!(error instanceof Refusal) && !countedByAedes(client, error)) {
      logger.debug({ clientId: shownId(client), err: error }, 'connection error');
    }
  });
  // aedes emits 'error' for persistence failures (its typings omit it); unhandled, an
  // 'error' event would throw and take every school's connection down with it.
  const emitter: EventEmitter = aedes;
  emitter.on('error', (error: Error) => logger.error({ err: error }, 'broker error'));

  function stats(): BrokerStats {
    return {
      ts: Date.now(),
      startedAt,
      clientsConnected: aedes.connectedClients,
      refused: { ...refused },
      logLinesSuppressed: refusalLog.suppressed,
    };
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
  /**
   * Every accepted TCP connection, plain or TLS, passes here first: the per-address cap is
   * checked before aedes sees the socket, and before a TLS handshake costs a signature. A
   * refused one costs a counter and a close, nothing else.
   */
  function admit(socket: Socket, then: (socket: Socket) => void): void {
    const key = addressKey(socket.remoteAddress);
    if (!admission.openConnection(key)) {
      refuse('connection_limit', `${admission.limits.maxConnectionsPerAddress} connections already open from ${key}`, {
        client: null,
        remote: socket.remoteAddress,
      });
      socket.on('error', () => {}); // a reset while we close it is expected
      socket.destroy();
      return;
    }
    sockets.add(socket);
    if (socket.remoteAddress) remotes.set(socket, socket.remoteAddress);
    socket.once('close', () => {
      sockets.delete(socket);
      admission.releaseConnection(key);
    });
    then(socket);
  }

  const server = createServer((socket) => admit(socket, (admitted) => aedes.handle(admitted)));

  // TLS: a TCP listener admits the connection, then hands it to a TLS server that never
  // listens itself (tls.Server takes injected connections through its 'connection' event),
  // and aedes gets the socket once the handshake is done.
  let tlsListener: Server | null = null;
  if (tlsEngine) {
    tlsEngine.on('tlsClientError', (error: Error, tlsSocket: TLSSocket) => {
      refuse('tls_handshake_failed', error.message, { client: null, remote: tlsSocket.remoteAddress ?? remotes.get(tlsSocket) });
    });
    tlsListener = createServer((socket) => admit(socket, (admitted) => tlsEngine.emit('connection', admitted)));
  }

  const listen = (listener: Server, port: number, on: string) =>
    new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(port, on, () => {
        listener.off('error', reject);
        resolve();
      });
    });
  const portOf = (listener: Server, fallback: number) => {
    const address = listener.address();
    return typeof address === 'object' && address ? address.port : fallback;
  };

  try {
    await listen(server, opts.port ?? 0, host);
    if (tlsListener && opts.tls) await listen(tlsListener, opts.tls.port ?? 0, opts.tls.host ?? host);
  } catch (error) {
    if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    throw error;
  }
  server.on('error', (error) => logger.error({ err: error }, 'server error'));
  tlsListener?.on('error', (error) => logger.error({ err: error }, 'TLS server error'));

  const port = portOf(server, opts.port ?? 0);
  const tlsPort = tlsListener ? portOf(tlsListener, opts.tls?.port ?? 0) : null;
  logger.info(
    { host, port, ...(tlsListener && { tlsHost: opts.tls?.host ?? host, tlsPort }), clients: credentials.clients.length },
    'district broker listening',
  );

  await publishStats();
  const statsTimer = setInterval(() => void publishStats(), opts.statsIntervalMs ?? DEFAULT_STATS_INTERVAL_MS);
  // The server keeps the process alive while it runs; the timer must not outlive it.
  statsTimer.unref();

  let closing: Promise<void> | undefined;
  async function shutdown(): Promise<void> {
    clearInterval(statsTimer);
    const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
    const tlsClosed = new Promise<void>((resolve) => (tlsListener ? tlsListener.close(() => resolve()) : resolve()));
    await publishStats();
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    // TCP sockets under a TLS session included: destroying one ends its session too.
    for (const socket of sockets) socket.destroy();
    await Promise.all([serverClosed, tlsClosed]);
    logger.info({ port }, 'district broker closed');
  }

  return {
    port,
    tlsPort,
    stats,
    close: () => (closing ??= shutdown()),
  };
}
