/**
 * Command line for the district broker.
 *
 *   node --import tsx broker/src/cli.ts --port 18830 --credentials data/broker/credentials.json [--host 0.0.0.0]
 *       [--stats-interval-ms 10000] [--max-connections-per-address 256] [--auth-burst 60] [--auth-per-second 5]
 *   node --import tsx broker/src/cli.ts hash-password < password.txt
 *
 * When started as a child with an IPC channel (e.g. by the district simulator or a test),
 * it sends { type: 'ready', port } once listening, so the parent can use port 0.
 * SIGINT/SIGTERM close the broker cleanly and the process exits 0 on its own.
 */
import { text } from 'node:stream/consumers';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { startDistrictBroker } from './broker.ts';
import { CredentialsError, hashPassword } from './credentials.ts';

const USAGE = `usage:
  cli.ts --port <port> --credentials <file.json> [--host <address>] [--stats-interval-ms <ms>]
         [--max-connections-per-address <n>] [--auth-burst <n>] [--auth-per-second <n>]
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

  const logger = pino({ name: 'district-broker' });
  const broker = await startDistrictBroker({
    port,
    credentials: values.credentials,
    logger,
    ...(values.host !== undefined && { host: values.host }),
    ...(statsIntervalMs !== undefined && { statsIntervalMs }),
    limits: {
      ...(maxConnectionsPerAddress !== undefined && { maxConnectionsPerAddress }),
      ...(authBurst !== undefined && { authBurst }),
      ...(authPerSecond !== undefined && { authPerSecond }),
    },
  });
  process.send?.({ type: 'ready', port: broker.port });

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
  } else if (error instanceof CredentialsError || (typeof code === 'string' && code.startsWith('E'))) {
    // A bad credentials file, or a system error such as EADDRINUSE: the message says it all.
    process.stderr.write(`error: ${(error as Error).message}\n`);
  } else {
    process.stderr.write(`error: ${(error as Error).stack ?? String(error)}\n`);
  }
  process.exitCode = 1;
});
