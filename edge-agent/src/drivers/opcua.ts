/**
 * OPC UA driver (push mode): one client per device keeps one session with one
 * subscription, one monitored item per profile node (protocol.nodes: metric -> node id),
 * each with the profile's absolute deadband where it gives one.
 *
 * Why the driver runs its own connect loop instead of node-opcua's automatic reconnection:
 * node-opcua retries forever inside connect() and only tells "backoff n, delay d", never
 * why an attempt failed, so the device's status could not say refused / timeout / wrong
 * password; and its session repair after a server restart (transfer, republish, recreate)
 * has a history of leaving subscriptions silent. Here each attempt is a fresh client,
 * session and subscription with maxRetry 0; any loss (socket closed, session or
 * subscription ended by the server, no keep-alive within three keep-alive periods) tears
 * it down and the loop tries again with backoff (0.5 s doubling to 10 s, up to 60 s after
 * a refusal that retrying soon will not fix, such as a wrong password; a connection that
 * held for 30 s starts the backoff afresh).
 *
 * Values: changes that arrive in one publish response are reported together. Because
 * deadbands suppress unchanged values, the last good value of every metric is also
 * reported as a snapshot once per profile report interval, so a steady fridge is never
 * taken for an offline one. Timestamps are the gateway's receive time (device clocks are
 * not trusted). Conversion: any numeric OPC UA type -> number (Int64 too); Boolean ->
 * boolean; for enum metrics a String (or LocalizedText) that is one of the metric's
 * values, or an integer taken as the index into the metric's `values` list (an Int32
 * enumeration); String/LocalizedText -> string.
 *
 * Status: ok() once the session and subscription are up and every node is readable, and
 * again whenever values flow. A node the server does not know (BadNodeIdUnknown) or that
 * serves a value the profile cannot take makes the device faulty (protocol_error, the
 * metric and node named) while the other nodes keep reporting; a node whose value has Bad
 * quality makes it faulty with device_error. Connection failures are classified from
 * node-opcua's messages (it carries no error codes): refused, timeout, closed, no_route,
 * auth_failed (BadUserAccessDenied, BadIdentityTokenRejected, a security mode or policy
 * the server does not offer, certificate refusals), else protocol_error.
 *
 * Certificates: node-opcua keeps a PKI folder (own key and certificate, trusted and
 * rejected peers). It goes to options.pkiDir, else to <tmpdir>/schoolops-opcua-pki-<uid>,
 * never the user's home (node-opcua's default). The key and self-signed certificate are
 * made natively on first use (about 0.3 s, no openssl process). Server certificates are
 * accepted automatically, without pinning: a gateway has no operator to approve them, so
 * SignAndEncrypt protects against eavesdropping, not against an impostor on the school
 * network. A device's own PKI decides whether it trusts ours.
 *
 * node-opcua is imported on first connect: it takes almost a second to load, which a
 * gateway without OPC UA devices should not pay.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { checkValues, type MetricDef, type MetricValue, type MetricValues } from '@schoolops/device-profiles';
import type {
  ClientMonitoredItem,
  ClientSession,
  ClientSubscription,
  DataValue,
  OPCUACertificateManager,
  OPCUAClient,
  UserIdentityInfo,
  Variant,
} from 'node-opcua';
import { DriverError, isUnreachable, type DeviceHandle, type Driver, type DriverContext, type DriverDevice } from './types.ts';

type OpcuaLib = typeof import('node-opcua');

export const OPCUA_SECURITY_MODES = ['None', 'Sign', 'SignAndEncrypt'] as const;
/** Basic256 is deprecated by the OPC Foundation but is all some older controllers offer. */
export const OPCUA_SECURITY_POLICIES = ['None', 'Basic256', 'Basic256Sha256', 'Aes128_Sha256_RsaOaep', 'Aes256_Sha256_RsaPss'] as const;

export const OpcuaOptions = Type.Object(
  {
    /** Message security (default None). */
    securityMode: Type.Optional(Type.Union(OPCUA_SECURITY_MODES.map((m) => Type.Literal(m)))),
    /** Default: None without security, Basic256Sha256 with Sign or SignAndEncrypt. */
    securityPolicy: Type.Optional(Type.Union(OPCUA_SECURITY_POLICIES.map((p) => Type.Literal(p)))),
    /** User name token; without it the session is anonymous. */
    userName: Type.Optional(Type.String({ minLength: 1 })),
    password: Type.Optional(Type.String()),
    /** Folder for the client's key, certificate and trusted server certificates (the agent's data dir). */
    pkiDir: Type.Optional(Type.String({ minLength: 1 })),
    /** How often the server samples each node (default 1000 ms, never slower than the report interval). */
    samplingIntervalMs: Type.Optional(Type.Integer({ minimum: 10, maximum: 3_600_000 })),
    /** Longest one connection attempt (connect, session, subscription) may take (default 10 s). */
    connectTimeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 120_000 })),
    /**
     * Longest the server stays silent before it sends a keep-alive (default 5 s); after three
     * missed ones the link counts as dead (a pulled cable, a hung controller) and is rebuilt.
     */
    keepAliveMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 600_000 })),
  },
  { additionalProperties: false },
);
export type OpcuaOptions = Static<typeof OpcuaOptions>;
/**
 * Options that are credentials (the user token's password). The gateway refuses a config
 * holding them inline unless only its own user can read it; they belong in the config's
 * secretsFile (edge-agent/src/config.ts).
 */
export const OPCUA_SECRET_OPTIONS = ['password'] as const satisfies readonly (keyof OpcuaOptions)[];

const DEFAULT_PORT = 4840;
const DEFAULT_SAMPLING_MS = 1000;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const RETRY_FIRST_MS = 500;
const RETRY_MAX_MS = 10_000;
/** After auth or protocol failures: retrying soon will not help and may lock the account. */
const RETRY_MAX_REFUSED_MS = 60_000;
/** A connection that held this long counts as a success: the next retry comes quickly again. */
const STABLE_MS = 30_000;
const DEFAULT_KEEPALIVE_MS = 5_000;
const CLOSE_STEP_MS = 2_000;

interface Item {
  metric: string;
  nodeId: string;
  def: MetricDef;
  deadband: number | undefined;
}

interface Settings {
  endpointUrl: string;
  securityMode: (typeof OPCUA_SECURITY_MODES)[number];
  securityPolicy: (typeof OPCUA_SECURITY_POLICIES)[number];
  userName: string | undefined;
  password: string;
  pkiDir: string;
  samplingIntervalMs: number;
  publishingIntervalMs: number;
  snapshotIntervalMs: number;
  connectTimeoutMs: number;
  keepAliveMs: number;
  /** node-opcua's socket inactivity and request timeout. */
  linkTimeoutMs: number;
  items: Item[];
}

/** Everything a device's configuration decides; throws a DriverError for one that can never work. */
export function opcuaSettings(device: DriverDevice<'opcua', OpcuaOptions>): Settings {
  const options = device.options ?? {};
  const url = device.record.address?.url;
  if (!url && !device.host) throw new DriverError('protocol_error', `device ${device.record.id} has neither address.host nor address.url`);
  const host = device.host?.includes(':') ? `[${device.host}]` : device.host; // an IPv6 address
  const endpointUrl = url ?? `opc.tcp://${host}:${device.port ?? DEFAULT_PORT}`;
  if (!/^opc\.tcp:\/\/([^/:[\]]+|\[[0-9a-fA-F:.]+\])(:\d+)?(\/.*)?$/.test(endpointUrl)) throw new DriverError('protocol_error', `not an opc.tcp:// endpoint: ${endpointUrl}`);

  const securityMode = options.securityMode ?? 'None';
  const securityPolicy = options.securityPolicy ?? (securityMode === 'None' ? 'None' : 'Basic256Sha256');
  if ((securityMode === 'None') !== (securityPolicy === 'None'))
    throw new DriverError('protocol_error', `security mode ${securityMode} cannot go with security policy ${securityPolicy}`);

  const reportMs = device.intervalMs;
  const samplingIntervalMs = Math.min(options.samplingIntervalMs ?? DEFAULT_SAMPLING_MS, reportMs);
  const metrics = new Map(device.profile.metrics.map((m) => [m.name, m]));
  const items: Item[] = [];
  for (const [metric, nodeId] of Object.entries(device.protocol.nodes)) {
    const def = metrics.get(metric);
    if (!def) throw new DriverError('protocol_error', `profile ${device.profile.id} reads node ${nodeId} into unknown metric ${metric}`);
    items.push({ metric, nodeId, def, deadband: device.protocol.deadband?.[metric] });
  }
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const keepAliveMs = options.keepAliveMs ?? DEFAULT_KEEPALIVE_MS;
  return {
    endpointUrl,
    securityMode,
    securityPolicy,
    userName: options.userName,
    password: options.password ?? '',
    pkiDir: options.pkiDir ?? (device.dataDir ? join(device.dataDir, 'opcua-pki') : join(tmpdir(), `schoolops-opcua-pki-${process.getuid?.() ?? 'user'}`)),
    samplingIntervalMs,
    // About a second, faster when sampling is faster (tests), never below 100 ms.
    publishingIntervalMs: Math.max(100, Math.min(1000, samplingIntervalMs)),
    snapshotIntervalMs: reportMs,
    connectTimeoutMs,
    keepAliveMs,
    linkTimeoutMs: Math.max(connectTimeoutMs, 3 * keepAliveMs + 3000),
    items,
  };
}

// ---------------------------------------------------------------------------------------
// Errors and values
// ---------------------------------------------------------------------------------------

const AUTH = /BadUserAccessDenied|BadIdentityToken\w*|BadSecurityChecksFailed|BadSecurityPolicyRejected|BadSecurityModeRejected|BadCertificate\w*|BadNoValidCertificates|Cannot find an Endpoint matching|End point must exist|user token policy/;
const DEVICE_BUSY = /BadTooManySessions|BadTooManySubscriptions|BadServerHalted|BadResourceUnavailable|BadServerNotConnected|BadOutOfService/;

/** Turn a node-opcua failure into a DriverError; it keeps socket error codes only inside its messages. */
export function classifyOpcuaError(error: unknown): DriverError {
  if (error instanceof DriverError) return error;
  const message = String((error as { message?: unknown } | undefined)?.message ?? error);
  const detail = message.replace(/\s+/g, ' ').trim().slice(0, 400);
  const reason = ((): DriverError['reason'] => {
    if (/ECONNREFUSED/.test(message)) return 'refused';
    if (/EHOSTUNREACH|ENETUNREACH|EHOSTDOWN|ENOTFOUND|EAI_AGAIN/.test(message)) return 'no_route';
    if (/ECONNRESET|EPIPE|ECONNABORTED|disconnected by third party|ended by server|BadConnectionClosed|BadSecureChannelClosed|BadSessionClosed/.test(message)) return 'closed';
    if (AUTH.test(message)) return 'auth_failed';
    if (DEVICE_BUSY.test(message)) return 'device_error';
    if (/ETIMEDOUT|Timeout\(|BadTimeout|BadRequestTimeout|timed out/i.test(message)) return 'timeout';
    return 'protocol_error';
  })();
  return new DriverError(reason, detail, { cause: error });
}

/** An OPC UA variant as a metric value, or a reason it cannot be one. */
export function metricValue(lib: OpcuaLib, def: MetricDef, variant: Variant): { value: MetricValue } | { problem: string } {
  const { DataType, VariantArrayType } = lib;
  if (variant.arrayType !== VariantArrayType.Scalar) return { problem: 'is an array' };
  const raw: unknown = variant.value;
  const type = variant.dataType;
  const numeric = (): number | undefined => {
    if (type === DataType.Int64 || type === DataType.UInt64) {
      // node-opcua gives 64-bit integers as [high, low] 32-bit words.
      if (Array.isArray(raw) && raw.length === 2) return Number(raw[0]) * 2 ** 32 + Number(raw[1]);
      return undefined;
    }
    const numericTypes = [DataType.Double, DataType.Float, DataType.Int32, DataType.UInt32, DataType.Int16, DataType.UInt16, DataType.SByte, DataType.Byte];
    return numericTypes.includes(type) && typeof raw === 'number' ? raw : undefined;
  };
  const text = (): string | undefined => {
    if (type === DataType.String && typeof raw === 'string') return raw;
    if (type === DataType.LocalizedText && raw && typeof (raw as { text?: unknown }).text === 'string') return (raw as { text: string }).text;
    return undefined;
  };
  let value: MetricValue | undefined;
  switch (def.type) {
    case 'number':
    case 'integer':
      value = numeric();
      break;
    case 'boolean':
      value = type === DataType.Boolean && typeof raw === 'boolean' ? raw : undefined;
      break;
    case 'enum': {
      const index = numeric();
      value = index !== undefined ? def.values?.[index] : text();
      break;
    }
    case 'string':
      value = text();
      break;
  }
  if (value === undefined) return { problem: `${DataType[type] ?? type} ${JSON.stringify(raw)?.slice(0, 40)} does not fit a ${def.type} metric` };
  return { value };
}

// ---------------------------------------------------------------------------------------
// The link: connect loop, one connection at a time
// ---------------------------------------------------------------------------------------

/**
 * One connection attempt and, once it is up, the live connection. `lost` settles when it
 * stops being usable; `abandoned` is set when the loop has given up on it (timeout, loss,
 * close), so steps still under way stop and tear down what they opened.
 */
interface Connection {
  client: OPCUAClient | null;
  session: ClientSession | null;
  abandoned: boolean;
  /** The link broke (socket, session or subscription gone): nothing to close politely. */
  broken: boolean;
  lost: Promise<DriverError>;
  /** Settle `lost`; `broken` false when it is our own close, so the session is closed politely. */
  loseWith(error: DriverError, broken?: boolean): void;
  watchdog: NodeJS.Timeout | null;
  snapshot: NodeJS.Timeout | null;
  flush: NodeJS.Immediate | null;
  /** Last good value per metric, for the snapshot. */
  last: MetricValues;
  /** Values changed since the last report (one publish response). */
  pending: MetricValues;
  /** Per metric: why it cannot be read (node unknown, value that does not fit, bad quality). */
  problems: Map<string, DriverError>;
}

function newConnection(): Connection {
  let loseWith!: (error: DriverError) => void;
  const lost = new Promise<DriverError>((resolve) => (loseWith = resolve));
  const connection: Connection = {
    client: null,
    session: null,
    abandoned: false,
    broken: false,
    lost,
    loseWith: (error, broken = true) => {
      if (connection.abandoned) return;
      connection.broken ||= broken;
      loseWith(error);
    },
    watchdog: null,
    snapshot: null,
    flush: null,
    last: {},
    pending: {},
    problems: new Map(),
  };
  return connection;
}

let lib: Promise<OpcuaLib> | undefined;
const loadLib = () => (lib ??= import('node-opcua'));

/** Resolve after `ms`, or at once when `cancel` is called. */
function pause(ms: number): { done: Promise<void>; cancel(): void } {
  let cancel!: () => void;
  const done = new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    cancel = () => {
      clearTimeout(timer);
      resolve();
    };
  });
  return { done, cancel };
}

/** Settle with `work`, or after `ms` whatever it does (a dead server must not hold up close). */
function bounded(work: Promise<unknown>, ms: number): Promise<void> {
  const wait = pause(ms);
  work.then(wait.cancel, wait.cancel);
  return wait.done;
}

class OpcuaLink {
  private closing = false;
  private loop: Promise<void> = Promise.resolve();
  private connection: Connection | null = null;
  private certificates: OPCUACertificateManager | null = null;
  /** Cuts the current wait short: the backoff pause, or an attempt in progress. */
  private interrupt: (() => void) | null = null;
  private readonly onAbort = () => void this.close();

  constructor(
    private readonly ctx: DriverContext<'opcua', OpcuaOptions>,
    private readonly settings: Settings,
  ) {}

  start(): void {
    if (this.ctx.signal.aborted) return;
    this.ctx.signal.addEventListener('abort', this.onAbort, { once: true });
    this.loop = this.run().catch((error: unknown) => this.ctx.logger.error({ error: String(error) }, 'opcua connect loop ended'));
  }

  async close(): Promise<void> {
    this.closing = true;
    this.ctx.signal.removeEventListener('abort', this.onAbort);
    this.interrupt?.();
    this.connection?.loseWith(new DriverError('closed', 'closing'), false);
    await this.loop;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.closing) {
      const connection = newConnection();
      this.connection = connection;
      let error: DriverError;
      try {
        await this.attempt(connection);
        const upAt = Date.now();
        error = await connection.lost;
        // A server that drops every session at once must not be hammered every half second.
        failures = Date.now() - upAt >= STABLE_MS ? 1 : failures + 1;
      } catch (thrown) {
        error = classifyOpcuaError(thrown);
        failures++;
      }
      connection.abandoned = true;
      if (!this.closing) {
        // Said before the teardown, which can take a while on a link that went silent.
        this.ctx.logger.debug({ reason: error.reason, detail: error.message }, 'opcua connection down');
        this.ctx.fail(error);
      }
      await this.teardown(connection);
      this.connection = null;
      if (this.closing) break;
      const cap = isUnreachable(error.reason) ? RETRY_MAX_MS : RETRY_MAX_REFUSED_MS;
      const delay = Math.min(cap, RETRY_FIRST_MS * 2 ** Math.max(0, failures - 1));
      const wait = pause(delay * (0.9 + Math.random() * 0.2));
      this.interrupt = wait.cancel;
      await wait.done;
      this.interrupt = null;
    }
    await this.certificates?.dispose().catch(() => undefined);
    this.certificates = null;
  }

  /** Open the connection within the connect timeout; close() or the timeout abandon it. */
  private attempt(c: Connection): Promise<void> {
    const ms = this.settings.connectTimeoutMs;
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (error?: DriverError) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.interrupt = null;
        if (!error) return resolve();
        c.abandoned = true;
        reject(error);
      };
      const timer = setTimeout(() => settle(new DriverError('timeout', `no answer within ${ms} ms from ${this.settings.endpointUrl}`)), ms);
      this.interrupt = () => settle(new DriverError('closed', 'closing'));
      this.open(c).then(
        () => settle(),
        (error: unknown) => settle(classifyOpcuaError(error)),
      );
    });
  }

  private async open(c: Connection): Promise<void> {
    try {
      await this.openSteps(c);
    } catch (error) {
      // Given up on while a step was under way: close what that step opened after the loop's teardown.
      if (c.abandoned) await this.teardown(c);
      throw error;
    }
  }

  private async openSteps(c: Connection): Promise<void> {
    const stillWanted = () => {
      if (c.abandoned) throw new DriverError('closed', 'abandoned');
    };
    const opcua = await loadLib();
    stillWanted();
    const s = this.settings;
    this.certificates ??= new opcua.OPCUACertificateManager({ rootFolder: s.pkiDir, automaticallyAcceptUnknownCertificate: true, disableFileWatchers: true });
    const client = opcua.OPCUAClient.create({
      applicationName: 'SchoolOps edge agent',
      clientName: this.ctx.device.record.id,
      endpointMustExist: false,
      securityMode: opcua.MessageSecurityMode[s.securityMode],
      securityPolicy: opcua.SecurityPolicy[s.securityPolicy],
      clientCertificateManager: this.certificates,
      // maxRetry 0: one try per attempt and no reconnection inside node-opcua (see header).
      connectionStrategy: { maxRetry: 0, initialDelay: RETRY_FIRST_MS, maxDelay: RETRY_MAX_MS },
      // node-opcua uses this as the socket's inactivity timeout too: it must outlast the
      // keep-alive period, and it sits past the watchdog below so a silent link is reported
      // as a timeout. Attempts are bounded by connectTimeoutMs on our side.
      transportTimeout: s.linkTimeoutMs,
      defaultTransactionTimeout: s.linkTimeoutMs,
      requestedSessionTimeout: 60_000,
      keepSessionAlive: false,
    });
    c.client = client;
    client.on('connection_lost', () => c.loseWith(new DriverError('closed', `connection to ${s.endpointUrl} lost`)));
    await client.connect(s.endpointUrl);
    stillWanted();

    const identity: UserIdentityInfo = s.userName
      ? { type: opcua.UserTokenType.UserName, userName: s.userName, password: s.password }
      : { type: opcua.UserTokenType.Anonymous };
    const session = await client.createSession(identity);
    c.session = session;
    stillWanted();
    session.on('session_closed', () => c.loseWith(new DriverError('closed', 'the server closed the session')));

    const keepAliveCount = Math.max(2, Math.ceil(s.keepAliveMs / s.publishingIntervalMs));
    const subscription = await session.createSubscription2({
      requestedPublishingInterval: s.publishingIntervalMs,
      requestedMaxKeepAliveCount: keepAliveCount,
      requestedLifetimeCount: keepAliveCount * 6,
      maxNotificationsPerPublish: 0,
      publishingEnabled: true,
      priority: 1,
    });
    stillWanted();
    // node-opcua emits 'error' on a subscription; without a listener that would throw.
    subscription.on('error', (error: Error) => c.loseWith(classifyOpcuaError(error)));
    subscription.on('internal_error', (error: Error) => c.loseWith(classifyOpcuaError(error)));
    subscription.on('terminated', () => c.loseWith(new DriverError('closed', 'the server ended the subscription')));
    // Anything from the server proves the link alive, and a keep-alive comes at least every
    // keep-alive period: three missed ones mean a hung server or a dead route.
    const period = Math.max(subscription.publishingInterval * subscription.maxKeepAliveCount, s.publishingIntervalMs);
    const silenceMs = 3 * period + 1000;
    const alive = () => {
      if (c.abandoned) return;
      if (c.watchdog) clearTimeout(c.watchdog);
      c.watchdog = setTimeout(() => c.loseWith(new DriverError('timeout', `nothing from ${s.endpointUrl} for ${silenceMs} ms`)), silenceMs);
      c.watchdog.unref();
    };
    subscription.on('keepalive', alive);
    subscription.on('raw_notification', alive);
    alive();

    const monitored = await Promise.all(s.items.map((item) => this.monitor(opcua, c, subscription, item)));
    stillWanted();
    monitored.forEach((m, i) => {
      const item = s.items[i]!;
      if (!m.statusCode.isGood()) c.problems.set(item.metric, itemError(item, 'protocol_error', m.statusCode.toString()));
    });
    c.snapshot = setInterval(() => this.snapshot(c), s.snapshotIntervalMs);
    c.snapshot.unref();
    this.reportHealth(c);
  }

  private async monitor(opcua: OpcuaLib, c: Connection, subscription: ClientSubscription, item: Item): Promise<ClientMonitoredItem> {
    const numeric = item.def.type === 'number' || item.def.type === 'integer';
    const filter =
      item.deadband !== undefined && numeric
        ? new opcua.DataChangeFilter({
            trigger: opcua.DataChangeTrigger.StatusValue,
            deadbandType: opcua.DeadbandType.Absolute,
            deadbandValue: item.deadband,
          })
        : null;
    const monitored = await subscription.monitor(
      { nodeId: item.nodeId, attributeId: opcua.AttributeIds.Value },
      { samplingInterval: this.settings.samplingIntervalMs, queueSize: 1, discardOldest: true, filter },
      opcua.TimestampsToReturn.Neither,
    );
    monitored.on('changed', (dataValue: DataValue) => this.changed(opcua, c, item, dataValue));
    return monitored;
  }

  /** One item's new value: checked and queued; all changes of one publish response are reported together. */
  private changed(opcua: OpcuaLib, c: Connection, item: Item, dataValue: DataValue): void {
    if (c.abandoned) return;
    const before = c.problems.get(item.metric)?.message;
    const problem = this.problemWith(opcua, item, dataValue);
    if (problem) {
      c.problems.set(item.metric, problem);
      delete c.last[item.metric];
      delete c.pending[item.metric];
    } else {
      c.problems.delete(item.metric);
      const value = (metricValue(opcua, item.def, dataValue.value) as { value: MetricValue }).value;
      c.last[item.metric] = value;
      c.pending[item.metric] = value;
      c.flush ??= setImmediate(() => this.flush(c));
    }
    if (c.problems.get(item.metric)?.message !== before) this.reportHealth(c);
  }

  /** Why this value cannot be reported, or null when it can. */
  private problemWith(opcua: OpcuaLib, item: Item, dataValue: DataValue): DriverError | null {
    const status = dataValue.statusCode;
    if (status.isBad()) {
      const unknownNode = /BadNodeIdUnknown|BadNodeIdInvalid|BadAttributeIdInvalid/.test(status.name);
      return itemError(item, unknownNode ? 'protocol_error' : 'device_error', status.toString());
    }
    const converted = metricValue(opcua, item.def, dataValue.value);
    if ('problem' in converted) return itemError(item, 'protocol_error', converted.problem);
    const wrong = checkValues(this.ctx.device.profile, { [item.metric]: converted.value });
    return wrong ? itemError(item, 'protocol_error', wrong.detail) : null;
  }

  private flush(c: Connection): void {
    c.flush = null;
    const values = c.pending;
    c.pending = {};
    if (c.abandoned || Object.keys(values).length === 0) return;
    this.ctx.report(values, Date.now());
    if (c.problems.size === 0) this.ctx.ok();
  }

  /** Every metric's last good value, so deadband-quiet metrics still arrive once per report interval. */
  private snapshot(c: Connection): void {
    if (c.abandoned || Object.keys(c.last).length === 0) return;
    this.ctx.report({ ...c.last }, Date.now());
  }

  /** ok() when every node reads; otherwise the device is faulty, naming each node that does not. */
  private reportHealth(c: Connection): void {
    if (c.abandoned) return;
    if (c.problems.size === 0) {
      this.ctx.ok();
      return;
    }
    const problems = [...c.problems.values()];
    const reason = problems.some((p) => p.reason === 'protocol_error') ? 'protocol_error' : 'device_error';
    this.ctx.fail(new DriverError(reason, problems.map((p) => p.message).join('; ').slice(0, 500)));
  }

  /** Close what an attempt opened. Every step is bounded; safe to run twice. */
  private async teardown(c: Connection): Promise<void> {
    if (c.watchdog) clearTimeout(c.watchdog);
    if (c.snapshot) clearInterval(c.snapshot);
    if (c.flush) clearImmediate(c.flush);
    c.watchdog = c.snapshot = c.flush = null;
    const { session, client } = c;
    c.session = null;
    c.client = null;
    // Closing the session deletes its subscription on the server; pointless on a broken link.
    if (session && !c.broken) await bounded(session.close(true), CLOSE_STEP_MS);
    if (client) {
      await bounded(client.disconnect(), CLOSE_STEP_MS);
      client.removeAllListeners();
    }
  }
}

function itemError(item: Item, reason: DriverError['reason'], detail: string): DriverError {
  return new DriverError(reason, `${item.metric} (node ${item.nodeId}): ${detail}`);
}

export const opcuaDriver: Driver<'opcua', OpcuaOptions> = {
  protocol: 'opcua',
  mode: 'push',
  options: OpcuaOptions,
  open(ctx): DeviceHandle {
    const link = new OpcuaLink(ctx, opcuaSettings(ctx.device));
    link.start();
    return { close: () => link.close() };
  },
};
