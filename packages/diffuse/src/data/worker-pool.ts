// A small pool of worker threads that decode image files, so decoding never stalls training.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { DataError } from '../io/errors.js';
import type { DecodeJob } from './dataset.js';
import type { WorkerReply } from './decode-worker.js';

interface Pending {
  resolve: (image: Float32Array) => void;
  reject: (err: Error) => void;
}

interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
}

/** The default pool size: one worker per core, leaving one core for the training thread. */
export function defaultWorkerCount(): number {
  return Math.max(1, availableParallelism() - 1);
}

/** Worker threads running decode jobs (decode-worker.js); jobs go to the least busy worker. */
export class DecodePool {
  private readonly slots: Slot[] = [];
  private nextId = 0;
  private closed = false;

  /**
   * @param size the number of workers (at least 1).
   */
  constructor(size: number = defaultWorkerCount()) {
    const n = Math.max(1, Math.floor(size));
    for (let i = 0; i < n; i++) {
      const worker = new Worker(new URL('./decode-worker.js', import.meta.url));
      const slot: Slot = { worker, pending: new Map() };
      worker.on('message', (reply: WorkerReply) => this.settle(slot, reply));
      worker.on('error', (err) => this.fail(slot, err));
      worker.on('exit', (code) => {
        if (!this.closed) this.fail(slot, new Error(`decode worker exited with code ${code}`));
      });
      // An idle pool must not keep the process alive; busy workers are ref'ed in run().
      worker.unref();
      this.slots.push(slot);
    }
  }

  /** Number of workers. */
  get size(): number {
    return this.slots.length;
  }

  /**
   * Decodes one image file in a worker.
   * @param job the file, output size and channels.
   * @returns C·H·W floats in [-1, 1].
   */
  run(job: DecodeJob): Promise<Float32Array> {
    if (this.closed) return Promise.reject(new Error('DecodePool: closed'));
    const slot = this.slots.reduce((a, b) => (b.pending.size < a.pending.size ? b : a));
    const id = this.nextId++;
    return new Promise<Float32Array>((resolve, reject) => {
      if (slot.pending.size === 0) slot.worker.ref();
      slot.pending.set(id, { resolve, reject });
      slot.worker.postMessage({ id, job });
    });
  }

  private settle(slot: Slot, reply: WorkerReply): void {
    const p = slot.pending.get(reply.id);
    if (!p) return;
    slot.pending.delete(reply.id);
    if (slot.pending.size === 0) slot.worker.unref();
    if ('image' in reply) p.resolve(reply.image);
    else p.reject(reply.dataError ? new DataError(reply.error, reply.path) : new Error(reply.error));
  }

  private fail(slot: Slot, err: Error): void {
    for (const p of slot.pending.values()) p.reject(err);
    slot.pending.clear();
    slot.worker.unref();
  }

  /** Stops the workers; jobs still running are rejected. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const slot of this.slots) this.fail(slot, new Error('DecodePool: closed'));
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
