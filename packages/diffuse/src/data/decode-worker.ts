// Worker-thread entry: runs decode jobs posted by DecodePool and posts the pixels back.
import { parentPort } from 'node:worker_threads';
import { DataError } from '../io/errors.js';
import type { DecodeJob } from './dataset.js';
import { runDecodeJob } from './decode.js';
import { limiter } from './limit.js';

/** A request from the pool. */
export interface WorkerRequest {
  id: number;
  job: DecodeJob;
}
/** The worker's answer: pixels, or a one-line error. */
export type WorkerReply = { id: number; image: Float32Array } | { id: number; error: string; path?: string; dataError: boolean };

// Two jobs at a time: one can wait on libvips while the other is resized here, and a deep queue
// of large photos never sits decoded in memory at once.
const run = limiter(2);

const port = parentPort;
if (port) {
  port.on('message', (req: WorkerRequest) => {
    run(() => runDecodeJob(req.job)).then(
      (image) => port.postMessage({ id: req.id, image } satisfies WorkerReply, [image.buffer as ArrayBuffer]),
      (err: unknown) =>
        port.postMessage({
          id: req.id,
          error: err instanceof Error ? err.message : String(err),
          path: err instanceof DataError ? err.path : req.job.path,
          dataError: err instanceof DataError,
        } satisfies WorkerReply),
    );
  });
}
