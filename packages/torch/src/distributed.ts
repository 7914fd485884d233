// torch.distributed: process groups and collectives on libtorch's c10d (TCPStore rendezvous,
// ProcessGroupGloo). Import as `torch.distributed`. One default group per process, as PyTorch's.
//
// Collectives work in place on the tensor given (allGather returns new tensors). The *Async forms
// return a Work whose wait() blocks and whose waitAsync() waits on a libuv thread, so the event
// loop keeps running; the synchronous forms are the Async form followed by wait().
import { native, type Handle, type WorkHandle } from './native.js';
import { Tensor } from './tensor.js';

export type Backend = 'gloo' | 'nccl';
export type ReduceOp = 'sum' | 'avg' | 'max' | 'min' | 'product';

export interface InitProcessGroupOptions {
  /** 'gloo' (CPU tensors). 'nccl' needs a CUDA build of libtorch with NCCL. Default 'gloo'. */
  backend?: Backend;
  /** 'env://' (MASTER_ADDR, MASTER_PORT; the default) or 'tcp://host:port'. */
  initMethod?: string;
  /** This process's rank; default $RANK. */
  rank?: number;
  /** Number of processes; default $WORLD_SIZE. */
  worldSize?: number;
  /** How long the rendezvous and each collective may wait for the others (default 30 min, as PyTorch). */
  timeoutMs?: number;
}

let state: { rank: number; worldSize: number; backend: Backend; timeoutMs: number } | null = null;

function envInt(name: string): number | undefined {
  const v = process.env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`distributed: $${name} must be a non-negative integer, got '${v}'`);
  return n;
}

/** Parses 'tcp://host:port' or resolves 'env://' from MASTER_ADDR / MASTER_PORT. */
export function parseInitMethod(initMethod: string): { host: string; port: number } {
  let host: string | undefined;
  let portText: string | undefined;
  if (initMethod === 'env://') {
    host = process.env.MASTER_ADDR;
    portText = process.env.MASTER_PORT;
    if (!host || !portText) {
      throw new Error("distributed: initMethod 'env://' needs MASTER_ADDR and MASTER_PORT in the environment (or pass initMethod 'tcp://host:port')");
    }
  } else {
    const m = /^tcp:\/\/(\[[^\]]+\]|[^:/]+):(\d+)\/?$/.exec(initMethod);
    if (!m) throw new RangeError(`distributed: initMethod must be 'env://' or 'tcp://host:port', got '${initMethod}'`);
    host = m[1]!.replace(/^\[|\]$/g, '');
    portText = m[2];
  }
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`distributed: the master port must be in [1, 65535], got '${portText}'`);
  return { host, port };
}

/**
 * Joins the default process group: rank 0 starts a TCPStore at the master address, every rank
 * connects to it and Gloo connects each pair. Blocks until all `worldSize` ranks have joined or
 * `timeoutMs` has passed (then throws one line saying which step failed).
 */
export function initProcessGroup(o: InitProcessGroupOptions = {}): void {
  const backend = o.backend ?? 'gloo';
  if (backend === 'nccl') {
    throw new Error(
      `distributed: backend 'nccl' is not compiled into this build (libtorch ${native.version}, backends: ${native.distributed.backends}); ` +
        "use backend 'gloo', or build @diffuse/torch against a CUDA libtorch with NCCL",
    );
  }
  if (backend !== 'gloo') throw new RangeError(`distributed: unknown backend '${String(backend)}' (gloo, nccl)`);
  if (state !== null) throw new Error('distributed: the process group is already initialized; call destroyProcessGroup() first');
  const rank = o.rank ?? envInt('RANK');
  const worldSize = o.worldSize ?? envInt('WORLD_SIZE');
  if (rank === undefined || worldSize === undefined) throw new Error('distributed: rank and worldSize must be given, or RANK and WORLD_SIZE set (torchrun sets them)');
  if (!Number.isInteger(worldSize) || worldSize < 1) throw new RangeError(`distributed: worldSize must be a positive integer, got ${worldSize}`);
  if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize) throw new RangeError(`distributed: rank must be an integer in [0, ${worldSize - 1}], got ${rank}`);
  const timeoutMs = o.timeoutMs ?? 30 * 60 * 1000;
  if (!(timeoutMs > 0)) throw new RangeError(`distributed: timeoutMs must be positive, got ${timeoutMs}`);
  const { host, port } = parseInitMethod(o.initMethod ?? 'env://');
  native.distributed.init(host, port, rank, worldSize, Math.round(timeoutMs));
  state = { rank, worldSize, backend, timeoutMs };
}

/** Leaves the process group (the other ranks should do the same). */
export function destroyProcessGroup(): void {
  native.distributed.destroy();
  state = null;
}

export function isInitialized(): boolean {
  return state !== null;
}

function need(what: string): NonNullable<typeof state> {
  if (state === null) throw new Error(`distributed: ${what} needs a process group; call distributed.initProcessGroup() first`);
  return state;
}

/** This process's rank in the default group. */
export function getRank(): number {
  return need('getRank').rank;
}

export function getWorldSize(): number {
  return need('getWorldSize').worldSize;
}

export function getBackend(): Backend {
  return need('getBackend').backend;
}

/** $LOCAL_RANK (the rank on this machine, set by the launcher), else 0. */
export function getLocalRank(): number {
  return envInt('LOCAL_RANK') ?? 0;
}

/** A collective in flight. wait() returns its result (allGather: one tensor per rank). */
export class Work<T> {
  readonly #h: WorkHandle;
  readonly #result: (out: Handle[] | undefined) => T;
  #done: { value: T } | null = null;

  /** @internal */
  constructor(h: WorkHandle, result: (out: Handle[] | undefined) => T) {
    this.#h = h;
    this.#result = result;
  }

  /** Whether the collective has finished (successfully or not); never blocks. */
  isCompleted(): boolean {
    return this.#done !== null || native.distributed.workIsCompleted(this.#h);
  }

  /** Blocks until the collective has finished; throws its error as one line. */
  wait(): T {
    if (this.#done === null) this.#done = { value: this.#result(native.distributed.workWait(this.#h)) };
    return this.#done.value;
  }

  /** Waits off the JS thread; resolves on it. */
  async waitAsync(): Promise<T> {
    if (this.#done === null) {
      const out = await native.distributed.workWaitAsync(this.#h);
      this.#done ??= { value: this.#result(out) };
    }
    return this.#done.value;
  }
}

function checkTensor(t: Tensor, what: string): void {
  if (t.device !== 'cpu') throw new Error(`distributed: ${what} with backend gloo needs a CPU tensor, got one on ${t.device}`);
}

/** Reduces `t` over all ranks in place ('avg' is the sum divided by the world size). */
export function allReduceAsync(t: Tensor, op: ReduceOp = 'sum'): Work<Tensor> {
  need('allReduce');
  checkTensor(t, 'allReduce');
  return new Work(native.distributed.allReduce(t.handle, op), () => t);
}

export function allReduce(t: Tensor, op: ReduceOp = 'sum'): Tensor {
  return allReduceAsync(t, op).wait();
}

/** Copies rank `src`'s `t` into every rank's `t`. */
export function broadcastAsync(t: Tensor, src = 0): Work<Tensor> {
  const s = need('broadcast');
  checkTensor(t, 'broadcast');
  if (!Number.isInteger(src) || src < 0 || src >= s.worldSize) throw new RangeError(`distributed: broadcast src must be a rank in [0, ${s.worldSize - 1}], got ${src}`);
  return new Work(native.distributed.broadcast(t.handle, src), () => t);
}

export function broadcast(t: Tensor, src = 0): Tensor {
  return broadcastAsync(t, src).wait();
}

/** Every rank's `t` (same shape and dtype on each), in rank order. */
export function allGatherAsync(t: Tensor): Work<Tensor[]> {
  need('allGather');
  checkTensor(t, 'allGather');
  return new Work(native.distributed.allGather(t.handle), (out) => (out ?? []).map((h) => new Tensor(h)));
}

export function allGather(t: Tensor): Tensor[] {
  return allGatherAsync(t).wait();
}

/** Returns once every rank has reached its barrier. */
export function barrierAsync(): Work<void> {
  need('barrier');
  return new Work(native.distributed.barrier(), () => undefined);
}

export function barrier(): void {
  barrierAsync().wait();
}
