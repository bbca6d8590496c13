/**
 * The camera driver's face counter on the gateway: the vision worker (edge-agent/src/vision/),
 * one per agent, shared by every camera of the school. Its errors become device problems:
 * a snapshot that does not decode is the camera's protocol error, a count that takes too
 * long a timeout, a full queue "not now".
 */
// worker.ts, not index.ts: the main thread must not load onnxruntime and sharp (the worker does).
import { FaceCounter as VisionWorker, FaceCounterError } from '../vision/worker.ts';
import type { FaceCounter } from './camera.ts';
import { DriverError } from './types.ts';

export interface VisionCounter extends FaceCounter {
  close(): Promise<void>;
}

export function startVisionCounter(options: { maxQueue?: number; timeoutMs?: number } = {}): VisionCounter {
  // A school's cameras count on their own clocks; a short queue keeps frames from piling up in memory.
  const worker = new VisionWorker({ maxQueue: options.maxQueue ?? 4, timeoutMs: options.timeoutMs ?? 15_000 });
  // The model loads with the first frame (about a second of CPU), not while the agent starts;
  // a failure to load shows on the cameras' status.
  return {
    async countFaces(jpeg, signal, faces) {
      if (signal.aborted) throw signal.reason;
      try {
        return (await worker.countFaces(jpeg, faces)).faces;
      } catch (error) {
        if (!(error instanceof FaceCounterError)) throw error;
        if (error.kind === 'busy') return null;
        if (error.kind === 'decode') throw new DriverError('protocol_error', `the snapshot could not be decoded: ${error.message}`);
        if (error.kind === 'timeout') throw new DriverError('timeout', `counting took too long: ${error.message}`);
        throw new DriverError('device_error', `the face counter failed: ${error.message}`);
      }
    },
    close: () => worker.close(),
  };
}
