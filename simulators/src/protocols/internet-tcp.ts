/**
 * The simulated internet's TCP target (what a probe's tcp-connect measures), which can be
 * black-holed: during an outage a connection attempt must time out, as on a cut line,
 * not be refused (a refusal is a RST that came back, proof the path works).
 *
 * The kernel answers a handshake on a listening socket by itself, so user space cannot
 * drop a SYN, except one way: when the listen queue is full, Linux drops new SYNs
 * silently. So the listener lives in a worker thread; to black-hole, the worker stops
 * running its event loop (blocked on a shared flag, so it accepts nothing) and "plug"
 * connections of our own fill its queue. To restore, the flag is lowered: the worker
 * wakes, accepts the plugs, and handshakes complete again.
 *
 * The queue is not tiny: with room for one connection only, a worker that is slow to
 * accept on a busy machine had the kernel drop a probe's SYN while the line was up, and
 * the probe's retry came a whole second (Linux's first SYN retransmission) later.
 */
import { connect, type Socket } from 'node:net';
import { Worker } from 'node:worker_threads';

/** Runs in the worker: accept and hang up at once; park on the flag when told to. */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const net = require('node:net');
const flag = new Int32Array(workerData.flag);
const server = net.createServer((socket) => { socket.on('error', () => {}); socket.destroy(); });
server.on('error', (error) => parentPort.postMessage({ type: 'error', message: String(error && error.message) }));
server.listen({ host: workerData.host, port: workerData.port, backlog: workerData.backlog }, () => {
  parentPort.postMessage({ type: 'listening', port: server.address().port });
});
parentPort.on('message', (message) => {
  if (message === 'park') {
    parentPort.postMessage({ type: 'parked' });
    while (Atomics.load(flag, 0) === 1) Atomics.wait(flag, 0, 1, 1000);
    parentPort.postMessage({ type: 'unparked' });
  } else if (message === 'stop') {
    server.close(() => process.exit(0));
  }
});
`;

/** Connections the listen queue holds before the kernel drops SYNs: room for a burst of probes. */
const BACKLOG = 64;
/** Enough queued connections to fill it (Linux queues backlog + 1). */
const PLUGS = BACKLOG + 1;

type WorkerMessage = { type: 'listening'; port: number } | { type: 'parked' } | { type: 'unparked' } | { type: 'error'; message: string };

export class BlackHoleTcpTarget {
  private readonly flag = new Int32Array(new SharedArrayBuffer(4));
  private worker: Worker | null = null;
  private plugs: Socket[] = [];
  private holed = false;
  /** Serialises hole/restore/stop so they never interleave. */
  private chain: Promise<unknown> = Promise.resolve();
  port = 0;

  constructor(
    private readonly host: string,
    private readonly requestedPort: number,
  ) {}

  get blackHoled(): boolean {
    return this.holed;
  }

  async start(): Promise<number> {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { flag: this.flag.buffer, host: this.host, port: this.requestedPort, backlog: BACKLOG } });
    this.worker = worker;
    worker.on('error', () => undefined);
    const first = await this.next();
    if (first.type !== 'listening') {
      await worker.terminate();
      this.worker = null;
      throw new Error(`TCP target could not listen: ${first.type === 'error' ? first.message : first.type}`);
    }
    this.port = first.port;
    return this.port;
  }

  private next(): Promise<WorkerMessage> {
    const worker = this.worker;
    if (!worker) return Promise.reject(new Error('TCP target not started'));
    return new Promise((resolve, reject) => {
      const onMessage = (m: WorkerMessage) => {
        worker.off('exit', onExit);
        resolve(m);
      };
      const onExit = () => {
        worker.off('message', onMessage);
        reject(new Error('TCP target worker exited'));
      };
      worker.once('message', onMessage);
      worker.once('exit', onExit);
    });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** From now on connection attempts time out. */
  blackHole(): Promise<void> {
    return this.serial(async () => {
      if (this.holed || !this.worker) return;
      Atomics.store(this.flag, 0, 1);
      const parked = this.next();
      this.worker.postMessage('park');
      await parked;
      this.holed = true;
      for (let i = 0; i < PLUGS; i++) this.plugs.push(await this.plug());
    });
  }

  private plug(): Promise<Socket> {
    return new Promise((resolve) => {
      const socket = connect(this.port, this.host);
      socket.on('error', () => undefined);
      // A plug the kernel already refuses means the queue is full: fine either way.
      const timer = setTimeout(() => resolve(socket), 200);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(socket);
      });
    });
  }

  /** Handshakes complete again. */
  restore(): Promise<void> {
    return this.serial(async () => {
      if (!this.holed || !this.worker) return;
      const unparked = this.next();
      Atomics.store(this.flag, 0, 0);
      Atomics.notify(this.flag, 0);
      await unparked;
      this.holed = false;
      for (const socket of this.plugs) socket.destroy();
      this.plugs = [];
    });
  }

  stop(): Promise<void> {
    return this.serial(async () => {
      const worker = this.worker;
      this.worker = null;
      this.holed = false;
      Atomics.store(this.flag, 0, 0);
      Atomics.notify(this.flag, 0);
      for (const socket of this.plugs) socket.destroy();
      this.plugs = [];
      if (worker) await worker.terminate();
    });
  }
}
