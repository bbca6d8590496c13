/**
 * Messages between the agent's main thread and the face-counting worker.
 * Requests carry one image; replies carry numbers only, by construction of these types.
 */

import type { FaceSizes } from './tiling.ts';

export type WorkerRequest =
  | {
      type: 'count';
      id: number;
      /** Encoded image bytes, transferred (not copied) to the worker. */
      jpeg: ArrayBuffer;
      /** The camera's face sizes, when its installer set them. */
      faces?: FaceSizes;
    }
  /** Release the model and let the thread end by itself (terminating it under onnxruntime aborts the process). */
  | { type: 'close' };

export type WorkerReply =
  | { type: 'ready' }
  | { type: 'fatal'; message: string }
  | { type: 'result'; id: number; faces: number; width: number; height: number; decodeMs: number; inferMs: number }
  | { type: 'error'; id: number; kind: 'decode' | 'internal'; message: string };
