/**
 * Worker-thread entry: owns the ONNX session and answers count requests one at a time.
 *
 * Only counts and timings are posted back; boxes and pixels never leave this thread, and
 * each frame's buffers are dropped when its request is answered.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { FaceDetector, ImageDecodeError, type DetectorOptions } from './detector.ts';
import type { WorkerReply, WorkerRequest } from './protocol.ts';

const port = parentPort;
if (!port) throw new Error('worker-main.ts must run in a worker thread');

const ready = FaceDetector.create((workerData ?? {}) as DetectorOptions);
ready.then(
  () => port.postMessage({ type: 'ready' } satisfies WorkerReply),
  (error: Error) => port.postMessage({ type: 'fatal', message: error.message } satisfies WorkerReply),
);

port.on('message', async (req: WorkerRequest) => {
  if (req.type === 'close') {
    await ready.then((d) => d.release()).catch(() => undefined);
    port.close();
    return;
  }
  let reply: WorkerReply;
  try {
    const detector = await ready;
    const r = await detector.count(new Uint8Array(req.jpeg), req.faces);
    reply = { type: 'result', id: req.id, faces: r.faces, width: r.width, height: r.height, decodeMs: r.decodeMs, inferMs: r.inferMs };
  } catch (error) {
    reply = {
      type: 'error',
      id: req.id,
      kind: error instanceof ImageDecodeError ? 'decode' : 'internal',
      message: (error as Error).message,
    };
  }
  port.postMessage(reply);
});
