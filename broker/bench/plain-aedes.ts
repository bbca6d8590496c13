/**
 * A plain aedes broker (no options but the ones given here), for reproducing aedes' own
 * bugs without our authentication and ACL in the way. Run as a child process:
 *
 *   node --import tsx broker/bench/plain-aedes.ts [--max-packet-size <bytes>]
 *
 * It listens on 127.0.0.1 on an ephemeral port and, over the IPC channel, sends
 * { type: 'ready', port } once listening. SIGTERM, or the parent going away, closes it.
 * An uncaught exception (the bug being reproduced) kills the process, as it would in
 * production: nothing here catches it.
 */
import { createServer } from 'node:net';
import { parseArgs } from 'node:util';
import { Aedes, type AedesOptions } from 'aedes';

const { values } = parseArgs({ options: { 'max-packet-size': { type: 'string' } }, strict: true });

const options: AedesOptions = {};
// maxPacketSize comes with broker/patches/aedes+1.2.0.patch; unpatched aedes ignores it.
if (values['max-packet-size'] !== undefined) options.maxPacketSize = Number(values['max-packet-size']);

const aedes = await Aedes.createBroker(options);
const server = createServer(aedes.handle);
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const address = server.address();
process.send?.({ type: 'ready', port: typeof address === 'object' && address ? address.port : 0 });

let stopping = false;
function stop(): void {
  if (stopping) return;
  stopping = true;
  server.close();
  aedes.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2_000).unref();
}
process.on('SIGTERM', stop);
process.on('disconnect', stop);
