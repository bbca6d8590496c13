/**
 * The district cloud's command line.
 *
 *   node --import tsx cloud/src/cli.ts --config cloud.json                  serve (the default)
 *   node --import tsx cloud/src/cli.ts create-admin --config cloud.json --username NAME
 *        [--display-name "Tên"] [--password-file FILE]                      the first district admin
 *   node --import tsx cloud/src/cli.ts make-certs --dir DIR --host NAME[,NAME|IP...] [--name server]
 *                                                                          the district's CA and a server certificate
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
import { ensureCertificates } from './tls/certificates.ts';

const logger = pino({ name: 'cloud' });

const USAGE = `usage:
  cloud --config cloud.json                                     serve the district
  cloud create-admin --config cloud.json --username NAME [--display-name TEXT] [--password-file FILE]
  cloud make-certs --dir DIR --host NAME[,NAME|IP...] [--name server]
        a CA (DIR/ca.pem, ca.key) and a server certificate for those names (DIR/<name>.pem, <name>.key);
        files already there are kept unless they no longer fit, so it is safe to run again`;

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

/** The installer's way to certificates: what was made or kept, where, and where each file goes. */
async function makeCerts(dir: string, hostList: string, name: string): Promise<void> {
  const hosts = hostList.split(',').map((host) => host.trim()).filter((host) => host.length > 0);
  const set = await ensureCertificates({ dir, servers: [{ name, hosts }] });
  const server = set.servers[name]!;
  const state = (file: string) => {
    const made = set.made.find((entry) => entry.file === file);
    return made ? `made now (${made.why})` : 'kept';
  };
  console.log(
    [
      `Certificates in ${set.dir} (mode 0700; keys 0600):`,
      `  ${set.caFile}  CA certificate, ${state(set.caFile)}`,
      `      give it to every gateway ("district": { "caFile" }), to the cloud ("mqtt": { "caFile" }) when it`,
      `      connects with mqtts://, and to browsers that should trust the dashboard without a warning`,
      `  ${set.caKeyFile}  CA key, ${state(set.caKeyFile)}`,
      `      signs certificates: keep it here for the next run, or offline once they are made`,
      `  ${server.certFile}  server certificate for ${server.covers.join(', ')}, until ${server.notAfter.toISOString().slice(0, 10)}, ${state(server.certFile)}`,
      `  ${server.keyFile}  its key, ${state(server.keyFile)}`,
      `Use them:`,
      `  cloud config   "http": { "host": "0.0.0.0", "port": 443, "tls": { "certFile": "${server.certFile}", "keyFile": "${server.keyFile}" } }`,
      `  broker         --tls-port 8883 --tls-host 0.0.0.0 --tls-cert ${server.certFile} --tls-key ${server.keyFile}`,
    ].join('\n'),
  );
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      username: { type: 'string' },
      'display-name': { type: 'string' },
      'password-file': { type: 'string' },
      dir: { type: 'string' },
      host: { type: 'string' },
      name: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return void console.log(USAGE);
  const command = positionals[0] ?? 'serve';
  // The only command without a cloud config: certificates come before the first start.
  if (command === 'make-certs') {
    if (!values.dir || !values.host) throw new Error(`make-certs needs --dir and --host\n${USAGE}`);
    return makeCerts(values.dir, values.host, values.name ?? 'server');
  }
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
