/**
 * Run the district cloud:  node --import tsx cloud/src/cli.ts --config cloud.json
 * Under a supervisor (IPC), reports { type: 'ready', port, url } once it serves.
 */
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { loadCloudConfig } from './config.ts';
import { startCloud } from './server.ts';

const logger = pino({ name: 'cloud' });

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { config: { type: 'string' } } });
  if (!values.config) throw new Error('missing --config <cloud.json>');
  const cloud = await startCloud(loadCloudConfig(values.config), { logger });
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

main().catch((error: Error) => {
  logger.fatal(error.message);
  process.exit(1);
});
