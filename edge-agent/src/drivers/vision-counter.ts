/**
 * The camera driver's face counter on the gateway: the vision worker (edge-agent/src/vision/),
 * one per agent, shared by every camera of the school. Its errors become device problems:
 * a snapshot that does not decode is the camera's protocol error, a count that takes too
 * long a timeout.
 *
 * Fair turns: at most `maxQueue` frames are with the worker at once; a camera whose frame
 * arrives when they are taken waits its turn for up to `waitMs`, and only then hears "not
 * now" (null: it tries again at its next poll). Turns go by how long each camera's count has
 * been due (`dueSince`), so a camera sent away keeps its place when it comes back. Without
 * this a camera could lose the race for a free slot poll after poll while others won (seen
 * with 31 cameras of a gateway due in the same second on a loaded machine: two never counted
 * in 90 s). A camera polls one frame at a time: at most one waiting frame per camera.
 */
// worker.ts, not index.ts: the main thread must not load onnxruntime and sharp (the worker does).
import { FaceCounter as VisionWorker, FaceCounterError } from '../vision/worker.ts';
import type { FaceCounter } from './camera.ts';
import { DriverError } from './types.ts';

export interface VisionCounter extends FaceCounter {
  close(): Promise<void>;
}

export function startVisionCounter(options: { maxQueue?: number; timeoutMs?: number; waitMs?: number } = {}): VisionCounter {
  // A short queue at the worker keeps frames from piling up in its memory.
  const maxQueue = options.maxQueue ?? 4;
  const waitMs = options.waitMs ?? 10_000;
  const worker = new VisionWorker({ maxQueue, timeoutMs: options.timeoutMs ?? 15_000 });
  let busy = 0;
  /** Waiting cameras, longest due first. */
  const waiting: Array<{ since: number; grant: () => void }> = [];

  /** A turn with the worker: true at once if one is free, else in order of `since`; false after waitMs or an abort. */
  const turn = (signal: AbortSignal, since: number): Promise<boolean> => {
    if (busy < maxQueue && waiting.length === 0) {
      busy++;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const done = (granted: boolean) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        const at = waiting.indexOf(entry);
        if (at >= 0) waiting.splice(at, 1);
        resolve(granted);
      };
      const entry = {
        since,
        grant: () => {
          busy++;
          done(true);
        },
      };
      const onAbort = () => done(false);
      const timer = setTimeout(() => done(false), waitMs);
      signal.addEventListener('abort', onAbort, { once: true });
      // Stable: after every waiter due as long or longer.
      let at = waiting.length;
      while (at > 0 && waiting[at - 1]!.since > since) at--;
      waiting.splice(at, 0, entry);
    });
  };
  const release = () => {
    busy--;
    waiting[0]?.grant();
  };

  // The model loads with the first frame (about a second of CPU), not while the agent starts;
  // a failure to load shows on the cameras' status.
  return {
    async countFaces(jpeg, signal, faces, dueSince = performance.now()) {
      if (signal.aborted) throw signal.reason;
      if (!(await turn(signal, dueSince))) {
        if (signal.aborted) throw signal.reason;
        return null;
      }
      try {
        return (await worker.countFaces(jpeg, faces)).faces;
      } catch (error) {
        if (!(error instanceof FaceCounterError)) throw error;
        if (error.kind === 'busy') return null;
        if (error.kind === 'decode') throw new DriverError('protocol_error', `the snapshot could not be decoded: ${error.message}`);
        if (error.kind === 'timeout') throw new DriverError('timeout', `counting took too long: ${error.message}`);
        throw new DriverError('device_error', `the face counter failed: ${error.message}`);
      } finally {
        release();
      }
    },
    close: () => worker.close(),
  };
}
