// DistributedDataParallel: data parallelism on c10d's Reducer, as torch.nn.parallel's.
// Construction broadcasts rank 0's parameters and buffers; the forward arms the reducer, whose
// autograd hooks copy each gradient into its bucket as backward produces it and start that
// bucket's all-reduce (on Gloo's threads) as soon as the bucket is full, so communication
// overlaps the rest of the backward. Gradients come out averaged over the ranks.
import { isGradEnabled } from '../autograd.js';
import * as dist from '../distributed.js';
import { native, type ReducerHandle } from '../native.js';
import { Tensor } from '../tensor.js';
import type { Module } from './module.js';

export interface DistributedDataParallelOptions {
  /** Bucket size for the gradient all-reduce, in MiB (PyTorch's default 25). */
  bucketCapMB?: number;
  /** Search the graph for parameters that get no gradient each step (slower; PyTorch's flag). */
  findUnusedParameters?: boolean;
  /** Broadcast rank 0's buffers before every forward (PyTorch's default true). */
  broadcastBuffers?: boolean;
}

// PyTorch's sizes: a 1 MiB first bucket so the first all-reduce starts early, 250 MiB pieces
// for the initial broadcast of the module state.
const FIRST_BUCKET_BYTES = 1024 * 1024;
const BROADCAST_BUCKET_BYTES = 250 * 1024 * 1024;

function tensorsIn(v: unknown, out: Tensor[] = []): Tensor[] {
  if (v instanceof Tensor) out.push(v);
  else if (Array.isArray(v)) for (const e of v) tensorsIn(e, out);
  else if (v !== null && typeof v === 'object') for (const e of Object.values(v)) tensorsIn(e, out);
  return out;
}

export class DistributedDataParallel<M extends Module> {
  readonly module: M;
  readonly #reducer: ReducerHandle;
  readonly #buffers: Tensor[];
  readonly #findUnused: boolean;
  readonly #broadcastBuffers: boolean;
  #sync = true;

  constructor(module: M, o: DistributedDataParallelOptions = {}) {
    if (!dist.isInitialized()) throw new Error('DistributedDataParallel needs a process group; call distributed.initProcessGroup() first');
    const capMB = o.bucketCapMB ?? 25;
    if (!(capMB > 0)) throw new RangeError(`DistributedDataParallel: bucketCapMB must be positive, got ${capMB}`);
    this.module = module;
    this.#findUnused = o.findUnusedParameters ?? false;
    this.#broadcastBuffers = o.broadcastBuffers ?? true;
    this.#buffers = module.buffers();
    const params = module.parameters().filter((p) => p.requiresGrad);
    if (params.length === 0) throw new Error('DistributedDataParallel: the module has no parameter that requires a gradient');
    // Every replica starts from rank 0's state, whatever each process initialised.
    native.distributed.broadcastCoalesced([...module.parameters(), ...this.#buffers].map((t) => t.handle), 0, BROADCAST_BUCKET_BYTES);
    this.#reducer = native.distributed.reducerNew(params.map((p) => p.handle), Math.round(capMB * 1024 * 1024), FIRST_BUCKET_BYTES, this.#findUnused);
  }

  /**
   * Runs `fn(module)` (the forward) and arms the gradient all-reduce for the backward of what it
   * returns, unless inside noSync() or with grad disabled.
   */
  forward<T>(fn: (module: M) => T): T {
    if (this.#broadcastBuffers && this.#buffers.length > 0 && dist.getWorldSize() > 1) {
      native.distributed.broadcastCoalesced(this.#buffers.map((b) => b.handle), 0, BROADCAST_BUCKET_BYTES);
    }
    const out = fn(this.module);
    if (this.#sync && isGradEnabled()) {
      native.distributed.reducerPrepare(this.#reducer, this.#findUnused ? tensorsIn(out).map((t) => t.handle) : []);
    }
    return out;
  }

  /**
   * Forwards and backwards inside `fn` accumulate gradients locally without communication
   * (microbatch accumulation); the first synchronised backward after it all-reduces the sum.
   */
  noSync<T>(fn: () => T): T {
    const prev = this.#sync;
    this.#sync = false;
    try {
      return fn();
    } finally {
      this.#sync = prev;
    }
  }

  /** Removes the autograd hooks. */
  dispose(): void {
    native.distributed.reducerDispose(this.#reducer);
  }
}
