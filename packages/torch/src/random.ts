// Randomness: the global seed and Generator objects (same seed, same numbers).
import { checkDevice } from './dtype.js';
import { native, type GeneratorHandle } from './native.js';
import { Tensor } from './tensor.js';

/** A random number generator (CPU). Pass it as `generator` to the random factories. */
export class Generator {
  readonly handle: GeneratorHandle;

  constructor(options: { seed?: number | bigint; device?: 'cpu' } = {}) {
    this.handle = native.newGenerator(options.device === undefined ? 'cpu' : checkDevice(options.device), options.seed);
  }

  /** Wraps an existing native generator (used for the default generator). */
  static fromHandle(h: GeneratorHandle): Generator {
    const g = Object.create(Generator.prototype) as { handle: GeneratorHandle };
    g.handle = h;
    return g as Generator;
  }

  manualSeed(seed: number | bigint): this {
    native.generatorSeed(this.handle, seed);
    return this;
  }
  initialSeed(): bigint {
    return native.generatorInitialSeed(this.handle);
  }
  /** The whole state as a uint8 tensor; restore it with setState to replay the same numbers. */
  getState(): Tensor {
    return new Tensor(native.generatorGetState(this.handle));
  }
  setState(state: Tensor): this {
    native.generatorSetState(this.handle, state.handle);
    return this;
  }
}

/** Seeds the default generators (CPU and, when present, CUDA). */
export function manualSeed(seed: number | bigint): void {
  native.manualSeed(seed);
}

let defaultGen: Generator | undefined;
/** The global CPU generator that factories use when no generator is passed. */
export function defaultGenerator(): Generator {
  defaultGen ??= Generator.fromHandle(native.defaultGenerator());
  return defaultGen;
}

export function setNumThreads(n: number): void {
  native.setNumThreads(n);
}
export function getNumThreads(): number {
  return native.getNumThreads();
}

/**
 * Flush denormal floats to zero on the CPU (torch.set_flush_denormal); returns false where the
 * CPU cannot. Denormals can make float kernels tens of times slower.
 */
export function setFlushDenormal(on: boolean): boolean {
  return native.setFlushDenormal(on);
}

export const cuda = {
  isAvailable: (): boolean => native.cudaIsAvailable(),
  deviceCount: (): number => native.cudaDeviceCount(),
  synchronize: (): void => native.cudaSynchronize(),
};

/** The libtorch version the addon was built against. */
export const libtorchVersion: string = native.version;
