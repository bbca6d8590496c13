/**
 * Run one school gateway:  node --import tsx edge-agent/src/cli.ts --config gateway.json
 * Check a camera's placement: node --import tsx edge-agent/src/cli.ts count-faces frame.jpg [more.jpg ...]
 *   prints {"faces":N,"width":W,"height":H,"ms":T}; exit 2 if the file is not a readable image.
 * When started by a supervisor over IPC (the simulated district), it reports
 * { type: 'ready', localPort, bootId } once the local broker listens.
 */
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { loadEdgeConfig } from './config.ts';
import { startEdgeAgent } from './agent.ts';

const logger = pino({ name: 'edge-agent' });
const usage = 'usage: edge-agent --config <gateway.json>\n       edge-agent count-faces [--min-face-px N] [--max-face-px N] [--roi-top F] <image file>...';

async function main(): Promise<void> {
  if (process.argv[2] === 'count-faces') {
    // Loaded only here: onnxruntime and sharp are not for every gateway start.
    const { countFacesCommand } = await import('./vision/count-faces-cli.ts');
    return void process.exit(await countFacesCommand(process.argv.slice(3)));
  }
  const { values } = parseArgs({ options: { config: { type: 'string' }, help: { type: 'boolean' } } });
  if (values.help) return void console.log(usage);
  if (!values.config) throw new Error(`missing --config\n${usage}`);
  const agent = await startEdgeAgent(loadEdgeConfig(values.config), { logger });
  process.send?.({ type: 'ready', localPort: agent.localPort, bootId: agent.bootId });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await agent.close();
    process.exit(0);
  };
  // Under a supervisor, Ctrl-C reaches the whole process group; the supervisor stops the
  // parts in order (gateways, cloud, broker) with SIGTERM, so SIGINT is its to handle.
  process.on('SIGINT', () => (process.connected ? undefined : stop()));
  process.on('SIGTERM', stop);
  process.on('disconnect', stop); // supervisor went away
}

main().catch((error: Error) => {
  logger.fatal(error.message);
  process.exit(1);
});
