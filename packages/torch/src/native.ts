// Loads the native addon once, after setting the thread environment it reads at load time.
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** An opaque native handle (a type-tagged napi External). */
export type Handle = { readonly __handle: unique symbol };
export type OpHandle = { readonly __op: unique symbol };
export type GeneratorHandle = { readonly __generator: unique symbol };

export type WorkHandle = { readonly __work: unique symbol };
export type ReducerHandle = { readonly __reducer: unique symbol };

/** c10d bindings (native/distributed.cc); see distributed.ts. */
export interface DistributedAddon {
  init(host: string, port: number, rank: number, worldSize: number, timeoutMs: number): void;
  destroy(): void;
  isInitialized(): boolean;
  allReduce(t: Handle, op: string): WorkHandle;
  broadcast(t: Handle, src: number): WorkHandle;
  allGather(t: Handle): WorkHandle;
  barrier(): WorkHandle;
  workWait(w: WorkHandle): Handle[] | undefined;
  workWaitAsync(w: WorkHandle): Promise<Handle[] | undefined>;
  workIsCompleted(w: WorkHandle): boolean;
  broadcastCoalesced(ts: Handle[], src: number, bufferBytes: number): void;
  reducerNew(params: Handle[], bucketCapBytes: number, firstBucketCapBytes: number, findUnused: boolean): ReducerHandle;
  reducerPrepare(r: ReducerHandle, outputs: Handle[]): void;
  reducerDispose(r: ReducerHandle): void;
  backends: string;
}

export interface NativeAddon {
  findOp(name: string, overload: string): OpHandle;
  callOp(op: OpHandle, args: unknown[], named?: Record<string, unknown>): unknown;
  callOpByName(name: string, args: unknown[], named?: Record<string, unknown>): unknown;
  opSchema(op: OpHandle): string;
  opArgNames(op: OpHandle): string[];
  listOps(): string[];
  fromBuffer(data: ArrayBufferView, shape: number[], dtype: number, device: string): Handle;
  toBuffer(h: Handle): ArrayBuffer;
  meta(h: Handle): [number[], number, string, boolean];
  strides(h: Handle): number[];
  isContiguous(h: Handle, channelsLast?: boolean): boolean;
  sharesStorage(a: Handle, b: Handle): boolean;
  dispose(h: Handle): void;
  memory(): { tensors: number; storages: number; bytes: number };
  readInto(h: Handle, path: string, offset: number): void;
  backward(tensors: Handle[], grads: (Handle | null)[], retainGraph?: boolean, createGraph?: boolean, inputs?: Handle[]): void;
  grad(outputs: Handle[], inputs: Handle[], gradOutputs: (Handle | null)[], retainGraph?: boolean, createGraph?: boolean, allowUnused?: boolean): (Handle | null)[];
  getGrad(h: Handle): Handle | null;
  setGrad(h: Handle, g: Handle | null): void;
  setRequiresGrad(h: Handle, on: boolean): void;
  setData(h: Handle, src: Handle): void;
  isLeaf(h: Handle): boolean;
  gradFnName(h: Handle): string | null;
  setGradEnabled(on: boolean): void;
  isGradEnabled(): boolean;
  checkpoint(fn: (inputs: Handle[]) => Handle[], inputs: Handle[]): Handle[];
  setNumThreads(n: number): void;
  getNumThreads(): number;
  manualSeed(seed: number | bigint): void;
  newGenerator(device: string, seed?: number | bigint): GeneratorHandle;
  defaultGenerator(): GeneratorHandle;
  generatorSeed(g: GeneratorHandle, seed: number | bigint): void;
  generatorInitialSeed(g: GeneratorHandle): bigint;
  generatorGetState(g: GeneratorHandle): Handle;
  generatorSetState(g: GeneratorHandle, state: Handle): void;
  setFlushDenormal(on: boolean): boolean;
  profilerStart(cpuClock: boolean): void;
  profilerStop(): [string, number, number, number][];
  onednnEffectiveIsa(): number | null;
  cudaIsAvailable(): boolean;
  cudaDeviceCount(): number;
  cudaSynchronize(): void;
  distributed: DistributedAddon;
  version: string;
}

// OpenBLAS reads its thread count when libblas loads (with the addon). libtorch already runs
// its own intra-op threads; two pools multiply and oversubscribe the cores (measured: a UNet step
// 10.3 s with both, 1.7 s with OpenBLAS at 1). The user's own setting wins.
process.env.OPENBLAS_NUM_THREADS ??= '1';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

function load(): NativeAddon {
  const candidates = [
    path.join(here, '../../build/Release/diffuse_torch.node'),
    path.join(here, '../../build/Debug/diffuse_torch.node'),
  ];
  let lastError: unknown;
  for (const c of candidates) {
    try {
      return require(c) as NativeAddon;
    } catch (e) {
      lastError = e;
      if ((e as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') break;
    }
  }
  const why = lastError instanceof Error ? lastError.message.split('\n')[0] : String(lastError);
  throw new Error(
    `@diffuse/torch: the native addon could not be loaded (${why}). ` +
      'Run `npm install` (or `npm rebuild @diffuse/torch`) to build it; it needs libtorch ' +
      '(apt-get install -y libtorch-dev libopenblas0-pthread, or set LIBTORCH).',
  );
}

export const native: NativeAddon = load();

/** The thread count we start with: DIFFUSE_THREADS, else OMP_NUM_THREADS, else every core. */
function defaultThreads(): number {
  for (const name of ['DIFFUSE_THREADS', 'OMP_NUM_THREADS']) {
    const v = Number(process.env[name]);
    if (Number.isInteger(v) && v > 0) return v;
  }
  return availableParallelism();
}

// libtorch says 1 thread on these machines unless told otherwise; use the cores we have.
native.setNumThreads(defaultThreads());
