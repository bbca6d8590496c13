/**
 * The district cloud's command line.
 *
 *   node --import tsx cloud/src/cli.ts --config cloud.json                  serve (the default)
 *   node --import tsx cloud/src/cli.ts create-admin --config cloud.json --username NAME
 *        [--display-name "Tên"] [--password-file FILE]                      the first district admin
 *
 * create-admin takes the password from --password-file (its first line), else makes one and
 * prints it once. It opens the account file itself, so run it while the cloud is stopped;
 * later admins are added in the dashboard. Under a supervisor (IPC), `serve` reports
 * { type: 'ready', port, url } once it serves.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { AccountError } from './auth/accounts.ts';
import { openAccountsForCli, readablePassword } from './auth/seed.ts';
import { loadCloudConfig } from './config.ts';
import { ACCOUNTS_FILE_NAME, startCloud } from './server.ts';

const logger = pino({ name: 'cloud' });

const USAGE = `usage:
  cloud --config cloud.json                                     serve the district
  cloud create-admin --config cloud.json --username NAME [--display-name TEXT] [--password-file FILE]`;

async function serve(configFile: string): Promise<void> {
  const cloud = await startCloud(loadCloudConfig(configFile), { logger });
  process.send?.({ type: 'ready', port: cloud.port, url: cloud.url });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await cloud.close();
    process.exit(0);
  };
  // Under a supervisor, Ctrl-C reaches the whole process group; the supervisor stops the
  // parts in order (gateways, cloud, broker) with SIGTERM, so SIGINT is its to handle.
  process.on('SIGINT', () => (process.connected ? undefined : stop()));
  process.on('SIGTERM', stop);
  process.on('disconnect', stop);
}

async function createAdmin(configFile: string, username: string, displayName: string | undefined, passwordFile: string | undefined): Promise<void> {
  const config = loadCloudConfig(configFile);
  const given = passwordFile ? readFileSync(passwordFile, 'utf8').split('\n')[0]!.trim() : undefined;
  const password = given ?? readablePassword();
  const accounts = await openAccountsForCli(join(config.dataDir, ACCOUNTS_FILE_NAME));
  try {
    await accounts.createUser({ username, displayName: displayName ?? username, role: 'district-admin', scope: { all: true }, password });
    await accounts.audit({ actor: 'cli', action: 'user.create', outcome: 'ok', target: username, detail: { role: 'district-admin' } });
  } finally {
    await accounts.close();
  }
  console.log(`District admin "${username}" created.${given ? '' : `\nPassword (shown once; change it after signing in): ${password}`}`);
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      username: { type: 'string' },
      'display-name': { type: 'string' },
      'password-file': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return void console.log(USAGE);
  const command = positionals[0] ?? 'serve';
  if (!values.config) throw new Error(`missing --config <cloud.json>\n${USAGE}`);
  if (command === 'serve') return serve(values.config);
  if (command === 'create-admin') {
    if (!values.username) throw new Error(`create-admin needs --username\n${USAGE}`);
    return createAdmin(values.config, values.username, values['display-name'], values['password-file']);
  }
  throw new Error(`unknown command "${command}"\n${USAGE}`);
}

main().catch((error: Error) => {
  logger.fatal(error instanceof AccountError ? error.message : error.message);
  console.error(error.message);
  process.exit(1);
});
