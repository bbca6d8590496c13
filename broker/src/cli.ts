/**
 * Command line for the district broker.
 *
 *   node --import tsx broker/src/cli.ts --port 18830 --credentials data/broker/credentials.json [--host 127.0.0.1]
 *       [--tls-port 8883 --tls-cert server.pem --tls-key server.key [--tls-host 0.0.0.0]] [--allow-plain-remote]
 *       [--stats-interval-ms 10000] [--max-connections-per-address 256] [--auth-burst 60] [--auth-per-second 5]
 *   node --import tsx broker/src/cli.ts hash-password < password.txt
 *
 * When started as a child with an IPC channel (e.g. by the district simulator or a test),
 * it sends { type: 'ready', port, tlsPort } once listening, so the parent can use port 0.
 * SIGINT/SIGTERM close the broker cleanly and the process exits 0 on its own.
 */
import { readFile } from 'node:fs/promises';
import { text } from 'node:stream/consumers';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { ListenerError, startDistrictBroker } from './broker.ts';
import { CredentialsError, hashPassword } from './credentials.ts';

const USAGE = `usage:
  cli.ts --port <port> --credentials <file.json> [--host <address>] [--stats-interval-ms <ms>]
         [--tls-port <port> --tls-cert <cert.pem> --tls-key <key.pem> [--tls-host <address>]]
         [--allow-plain-remote] [--max-connections-per-address <n>] [--auth-burst <n>] [--auth-per-second <n>]
  The plain listener (--host, default 127.0.0.1) takes loopback addresses only, unless
  --allow-plain-remote; gateways elsewhere connect to the TLS listener (--tls-host, default --host).
  cli.ts hash-password          (reads the password from stdin, prints its hash)`;

/** A mistake by whoever ran the command: print it and the usage, exit 1. */
class UsageError extends Error {}

/** After a clean close nothing should hold the process; if something does, say so. */
const EXIT_GRACE_MS = 5_000;

function integerFlag(name: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!/^\d+$/.test(value) || number < min || number > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got "${value}"`);
  }
  return number;
}

/** The TLS listener's flags: all of port, cert and key, or none of them. */
async function tlsFlags(values: Record<string, string | boolean | undefined>): Promise<{ port: number; host?: string; cert: Buffer; key: Buffer } | undefined> {
  const port = values['tls-port'] as string | undefined;
  const certFile = values['tls-cert'] as string | undefined;
  const keyFile = values['tls-key'] as string | undefined;
  const host = values['tls-host'] as string | undefined;
  if (port === undefined && certFile === undefined && keyFile === undefined) {
    if (host !== undefined) throw new UsageError('--tls-host needs --tls-port, --tls-cert and --tls-key');
    return undefined;
  }
  if (port === undefined || certFile === undefined || keyFile === undefined) {
    throw new UsageError('a TLS listener needs all of --tls-port, --tls-cert and --tls-key');
  }
  const read = async (file: string, flag: string) => {
    try {
      return await readFile(file);
    } catch (error) {
      throw new UsageError(`--${flag} ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  };
  return {
    port: integerFlag('tls-port', port, 0, 65535)!,
    ...(host !== undefined && { host }),
    cert: await read(certFile, 'tls-cert'),
    key: await read(keyFile, 'tls-key'),
  };
}

async function hashPasswordCommand(): Promise<void> {
  if (process.stdin.isTTY) process.stderr.write('password (then Enter and Ctrl-D): ');
  // Only the first line: `echo secret | ...` and files ending in a newline both work.
  const password = (await text(process.stdin)).split(/\r?\n/)[0] ?? '';
  if (password.length === 0) throw new UsageError('hash-password: no password on stdin');
  process.stdout.write(`${await hashPassword(password)}\n`);
}

async function serveCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      credentials: { type: 'string' },
      'stats-interval-ms': { type: 'string' },
      'max-connections-per-address': { type: 'string' },
      'auth-burst': { type: 'string' },
      'auth-per-second': { type: 'string' },
      'tls-port': { type: 'string' },
      'tls-host': { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'allow-plain-remote': { type: 'boolean' },
    },
  });
  if (values.port === undefined) throw new UsageError('missing --port (0 picks a free port)');
  if (values.credentials === undefined) throw new UsageError('missing --credentials <file.json>');
  const port = integerFlag('port', values.port, 0, 65535);
  const statsIntervalMs = integerFlag('stats-interval-ms', values['stats-interval-ms'], 100, 3_600_000);
  // Per-address limits (admission.ts); each one left out keeps its default.
  const maxConnectionsPerAddress = integerFlag('max-connections-per-address', values['max-connections-per-address'], 1, 1_000_000);
  const authBurst = integerFlag('auth-burst', values['auth-burst'], 1, 1_000_000);
  const authPerSecond = integerFlag('auth-per-second', values['auth-per-second'], 1, 1_000_000);
  const tls = await tlsFlags(values);

  const logger = pino({ name: 'district-broker' });
  const broker = await startDistrictBroker({
    port,
    credentials: values.credentials,
    logger,
    ...(values.host !== undefined && { host: values.host }),
    ...(values['allow-plain-remote'] && { allowPlainRemote: true }),
    ...(tls && { tls }),
    ...(statsIntervalMs !== undefined && { statsIntervalMs }),
    limits: {
      ...(maxConnectionsPerAddress !== undefined && { maxConnectionsPerAddress }),
      ...(authBurst !== undefined && { authBurst }),
      ...(authPerSecond !== undefined && { authPerSecond }),
    },
  });
  process.send?.({ type: 'ready', port: broker.port, ...(broker.tlsPort !== null && { tlsPort: broker.tlsPort }) });

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal while closing: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'closing');
    broker.close().then(
      () => {
        // The IPC channel to a supervisor would keep the process alive; it has nothing more to say.
        if (process.connected) process.disconnect();
        // Everything is closed, so the process now ends by itself. If it does not, a
        // handle leaked: say so and exit rather than hang a supervisor's restart.
        setTimeout(() => {
          logger.error('still running after close: a handle leaked');
          process.exit(1);
        }, EXIT_GRACE_MS).unref();
      },
      (error: unknown) => {
        logger.error({ err: error }, 'close failed');
        process.exit(1);
      },
    );
  };
  // Under a supervisor, Ctrl-C reaches the whole process group; the supervisor stops the
  // parts in order (gateways, cloud, broker) with SIGTERM, so SIGINT is its to handle.
  process.on('SIGINT', () => (process.connected ? undefined : stop('SIGINT')));
  process.on('SIGTERM', stop);
  process.on('disconnect', () => stopping || stop('SIGTERM')); // supervisor went away
}

async function main(argv: string[]): Promise<void> {
  if (argv[0] === 'hash-password') {
    if (argv.length > 1) throw new UsageError('hash-password takes no arguments; it reads the password from stdin');
    return hashPasswordCommand();
  }
  return serveCommand(argv);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  const code = (error as { code?: unknown }).code;
  if (error instanceof UsageError || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))) {
    process.stderr.write(`error: ${(error as Error).message}\n${USAGE}\n`);
  } else if (error instanceof CredentialsError || error instanceof ListenerError || (typeof code === 'string' && code.startsWith('E'))) {
    // A bad credentials file, a listener refused, or a system error such as EADDRINUSE: the message says it all.
    process.stderr.write(`error: ${(error as Error).message}\n`);
  } else {
    process.stderr.write(`error: ${(error as Error).stack ?? String(error)}\n`);
  }
  process.exitCode = 1;
});
