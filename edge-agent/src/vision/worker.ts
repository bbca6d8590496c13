/**
 * FaceCounter: the main thread's handle on a worker thread that runs the detector.
 *
 * Inference takes tens to hundreds of milliseconds per frame; in a worker it never stalls
 * the agent's event loop. Requests queue in the worker up to `maxQueue`; beyond that they
 * are refused at once (a camera poll should skip a frame, not pile them up). A request that
 * takes longer than `timeoutMs` fails for its caller; it still occupies the worker until the
 * worker answers, so the queue bound keeps a stalled worker from collecting frames. The
 * worker is never terminated while onnxruntime is loaded in it: that aborts the whole
 * process (Napi::Error at teardown); close() asks it to release the model and exit instead.
 * The API returns counts only.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { DetectorOptions } from './detector.ts';
import type { WorkerReply, WorkerRequest } from './protocol.ts';
import type { FaceSizes } from './tiling.ts';

export interface FaceCountResult {
  faces: number;
  width: number;
  height: number;
  decodeMs: number;
  inferMs: number;
}

export type FaceCounterErrorKind = 'decode' | 'busy' | 'timeout' | 'closed' | 'internal';

export class FaceCounterError extends Error {
  override name = 'FaceCounterError';
  constructor(
    readonly kind: FaceCounterErrorKind,
    message: string,
  ) {
    super(message);
  }
}

export interface FaceCounterOptions {
  detector?: DetectorOptions;
  /** Requests allowed in flight (running + waiting) before new ones are refused. */
  maxQueue?: number;
  /** Time allowed for one request, measured from when it is sent. */
  timeoutMs?: number;
}

interface Pending {
  resolve: (r: FaceCountResult) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

function workerUrl(): URL {
  // Run from source (tsx) the entry is .ts; a build would ship worker-main.js beside this file.
  const ts = new URL('./worker-main.ts', import.meta.url);
  return existsSync(fileURLToPath(ts)) ? ts : new URL('./worker-main.js', import.meta.url);
}

/** file: URL of tsx's ESM register API (its CommonJS twin cannot load the ESM half from a worker). */
function tsxEsmApi(): string {
  const require = createRequire(import.meta.url);
  const pkgJson = require.resolve('tsx/package.json');
  const pkg = require(pkgJson) as { exports: Record<string, { import?: { default?: string } }> };
  const rel = pkg.exports['./esm/api']?.import?.default ?? './dist/esm/api/index.mjs';
  return pathToFileURL(join(dirname(pkgJson), rel)).href;
}

/**
 * Start the worker. A .ts entry (running from source) needs tsx's loader inside the worker,
 * and loader flags given to the parent process do not reach worker threads on Node 20: a
 * tiny CommonJS bootstrap registers tsx in the worker, then imports the real entry.
 */
function spawnWorker(url: URL, workerData: unknown): Worker {
  if (!url.pathname.endsWith('.ts')) return new Worker(url, { workerData });
  const bootstrap =
    `import(${JSON.stringify(tsxEsmApi())}).then((tsx) => { tsx.register(); return import(${JSON.stringify(url.href)}); })` +
    `.catch((e) => { throw e; });`;
  return new Worker(bootstrap, { eval: true, workerData });
}

export class FaceCounter {
  private worker: Worker | null = null;
  private ready: Promise<void> | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private inWorker = 0;
  private closed = false;
  private readonly maxQueue: number;
  private readonly timeoutMs: number;

  constructor(private readonly options: FaceCounterOptions = {}) {
    this.maxQueue = options.maxQueue ?? 4;
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  /** Start the worker and load the model now instead of on the first frame. */
  start(): Promise<void> {
    if (this.closed) return Promise.reject(new FaceCounterError('closed', 'face counter is closed'));
    if (this.ready) return this.ready;
    const url = workerUrl();
    const worker = spawnWorker(url, this.options.detector ?? {});
    this.worker = worker;
    this.ready = new Promise<void>((resolve, reject) => {
      worker.on('message', (msg: WorkerReply) => {
        if (msg.type === 'ready') return resolve();
        if (msg.type === 'fatal') {
          reject(new FaceCounterError('internal', `face model failed to load: ${msg.message}`));
          worker.postMessage({ type: 'close' } satisfies WorkerRequest);
          return void this.reset(worker, msg.message);
        }
        this.settle(msg);
      });
      worker.on('error', (error) => {
        reject(new FaceCounterError('internal', error.message));
        this.reset(worker, error.message);
      });
      worker.on('exit', (code) => {
        reject(new FaceCounterError('internal', `worker exited (${code})`));
        this.reset(worker, `worker exited (${code})`);
      });
    });
    // The rejection is delivered to callers of countFaces; don't report it as unhandled here.
    this.ready.catch(() => undefined);
    return this.ready;
  }

  /** Count faces in one encoded image (JPEG or PNG). The buffer is copied, not consumed. */
  async countFaces(image: Uint8Array, faces?: FaceSizes): Promise<FaceCountResult> {
    if (this.closed) throw new FaceCounterError('closed', 'face counter is closed');
    if (this.inWorker >= this.maxQueue) throw new FaceCounterError('busy', `face counter busy (${this.inWorker} queued)`);
    this.inWorker++; // reserve the slot now: the worker may still be starting
    const id = this.nextId++;
    const result = new Promise<FaceCountResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new FaceCounterError('timeout', `face count timed out after ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
    });
    try {
      await this.start();
    } catch (error) {
      this.inWorker = Math.max(0, this.inWorker - 1);
      this.fail(id, error as Error);
      return result;
    }
    const copy = new Uint8Array(image); // own buffer, so it can be transferred
    const req: WorkerRequest = { type: 'count', id, jpeg: copy.buffer, ...(faces ? { faces } : {}) };
    if (this.worker) this.worker.postMessage(req, [copy.buffer]);
    else {
      this.inWorker = Math.max(0, this.inWorker - 1);
      this.fail(id, new FaceCounterError('internal', 'worker went away'));
    }
    return result;
  }

  /** Requests the worker holds, including ones whose callers already timed out. */
  get queued(): number {
    return this.inWorker;
  }

  /** Fail what is pending, then let the worker release the model and exit on its own. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const worker = this.worker;
    const ready = this.ready;
    this.reset(worker, 'face counter closed', 'closed');
    if (!worker) return;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    // Wait for the model to finish loading: releasing it mid-load is what aborts.
    await ready?.catch(() => undefined);
    worker.postMessage({ type: 'close' } satisfies WorkerRequest);
    await exited;
  }

  private settle(msg: Extract<WorkerReply, { id: number }>): void {
    this.inWorker = Math.max(0, this.inWorker - 1);
    const p = this.pending.get(msg.id);
    if (!p) return; // timed out already
    this.pending.delete(msg.id);
    clearTimeout(p.timer);
    if (msg.type === 'result') {
      const { faces, width, height, decodeMs, inferMs } = msg;
      p.resolve({ faces, width, height, decodeMs, inferMs });
    } else p.reject(new FaceCounterError(msg.kind, msg.message));
  }

  private fail(id: number, error: Error): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    p.reject(error instanceof FaceCounterError ? error : new FaceCounterError('internal', error.message));
  }

  /** Forget a dead worker and fail what it held; the next request starts a fresh one. */
  private reset(worker: Worker | null, reason: string, kind: FaceCounterErrorKind = 'internal'): void {
    if (worker !== this.worker) return;
    this.worker = null;
    this.ready = null;
    this.inWorker = 0;
    for (const id of [...this.pending.keys()]) this.fail(id, new FaceCounterError(kind, reason));
  }
}
