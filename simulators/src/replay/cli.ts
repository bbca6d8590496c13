/**
 * Run the replayer:  node --import tsx simulators/src/replay/cli.ts --config replay.json
 *
 * Its own process, as each gateway is, so the district's launcher (and its tests) can kill,
 * stop and start it like any other part, and a cloud or broker restart meets it as it meets
 * real gateways. Under a supervisor (IPC) it reports { type: 'ready', schools } once every
 * school's connection is under way, then { type: 'replay-progress', ready, of } as schools
 * come online (at most twice a second, and always the last one).
 */
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { loadReplayConfig } from './config.ts';
import { startReplayer, type ReplayProgress } from './replayer.ts';

const logger = pino({ name: 'replay' });
const usage = 'usage: replay --config <replay.json>';
const PROGRESS_EVERY_MS = 500;

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { config: { type: 'string' }, help: { type: 'boolean' } } });
  if (values.help) return void console.log(usage);
  if (!values.config) throw new Error(`missing --config\n${usage}`);
  const config = loadReplayConfig(values.config);

  let latest: ReplayProgress | null = null;
  let sentAt = 0;
  let timer: NodeJS.Timeout | undefined;
  const send = () => {
    timer = undefined;
    sentAt = Date.now();
    if (latest) process.send?.({ type: 'replay-progress', ...latest });
  };
  const onProgress = (progress: ReplayProgress) => {
    latest = progress;
    if (progress.ready === progress.of) return send();
    timer ??= setTimeout(send, Math.max(0, sentAt + PROGRESS_EVERY_MS - Date.now()));
  };

  const replayer = await startReplayer(config, { logger, onProgress });
  process.send?.({ type: 'ready', schools: config.schools.length });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    clearTimeout(timer);
    await replayer.stop();
    process.exit(0);
  };
  // As the edge agent: under a supervisor, Ctrl-C is the supervisor's to handle (it stops the
  // parts in order with SIGTERM).
  process.on('SIGINT', () => (process.connected ? undefined : stop()));
  process.on('SIGTERM', stop);
  process.on('disconnect', stop); // supervisor went away
}

main().catch((error: Error) => {
  logger.fatal(error.message);
  process.exit(1);
});
