// Data parallelism for the trainer: the model replica's DistributedDataParallel wrapper and the
// few collectives a step needs besides the gradient all-reduce (what every rank must agree on,
// and the per-example losses rank 0 logs). The process group is initialised by the caller.
//
// Equivalence with one process by construction: every rank sees the rows of the same global
// batch (BatchLoader's shard), and each microbatch draws its randomness (timesteps, noise,
// dropout, label dropout) from the default generator reseeded from (run seed, step, the
// microbatch's first row in the global batch). One process with the same microbatches draws the
// same numbers; the gradients differ only in how the float sums are grouped (see docs/distributed.md).
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';

import type { RunningMeans } from './metrics.js';

/** This process's place in an initialised process group. */
export interface DataParallelRank {
  rank: number;
  worldSize: number;
}

const MASK64 = (1n << 64n) - 1n;

/** splitmix64's finaliser: a well-mixed 64-bit value from a 64-bit input. */
function mix64(z: bigint): bigint {
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return z ^ (z >> 31n);
}

/** The default generator's seed for the microbatch that starts at global row `row` of `step`. */
export function microbatchSeed(runSeed: number, step: number, row: number): bigint {
  return mix64((mix64((mix64(BigInt(runSeed)) + BigInt(step)) & MASK64) + BigInt(row)) & MASK64) >> 1n;
}

/** Per-example values of one step, as the trainer logs them (one array per microbatch). */
export interface StepStats {
  keys: string[];
  chunks: { t: number[]; values: Record<string, number[]> }[];
}

export class DataParallel {
  readonly ddp: torch.nn.DistributedDataParallel<torch.nn.Module>;

  /** Wraps the model (broadcasting rank 0's parameters and buffers to every rank). */
  constructor(
    readonly place: DataParallelRank,
    model: torch.nn.Module,
  ) {
    this.ddp = new torch.nn.DistributedDataParallel(model);
  }

  get rank(): number {
    return this.place.rank;
  }

  /** Runs a microbatch's forward; its backward all-reduces only when `sync` (the last microbatch). */
  forward<T>(sync: boolean, fn: () => T): T {
    return sync ? this.ddp.forward(fn) : this.ddp.noSync(() => this.ddp.forward(fn));
  }

  /** Each flag true on any rank is true on all (stop requests, time budgets). */
  agree(flags: boolean[]): boolean[] {
    return torch.tidy(() => {
      const t = torch.tensor(flags.map((f) => (f ? 1 : 0)), { dtype: 'int32' });
      torch.distributed.allReduce(t, 'max');
      return (t.toArray() as number[]).map((v) => v !== 0);
    });
  }

  /** The mean over ranks of a per-rank number (each rank's share of the global mean loss). */
  mean(local: number): number {
    return torch.tidy(() => {
      const t = torch.tensor([local], { dtype: 'float64' });
      torch.distributed.allReduce(t, 'sum');
      return (t.toArray()[0] as number) / this.place.worldSize;
    });
  }

  /**
   * Adds every rank's per-example values to `means`, in global row order (rank 0's microbatches,
   * then rank 1's, …), as one process with the same microbatches adds them.
   */
  addGathered(means: RunningMeans, local: StepStats, numTimesteps: number): { t: number[]; loss: number[] } {
    const sizes = local.chunks.map((c) => c.t.length);
    const flat = (c: StepStats['chunks'][number]): number[] => [...c.t, ...local.keys.flatMap((k) => c.values[k]!)];
    const gathered = torch.tidy(() => {
      const t = torch.tensor(local.chunks.flatMap(flat), { dtype: 'float64' });
      return torch.distributed.allGather(t).map((g: Tensor) => g.toArray() as number[]);
    });
    const all = { t: [] as number[], loss: [] as number[] };
    for (const arr of gathered) {
      let at = 0;
      for (const n of sizes) {
        const t = arr.slice(at, at + n);
        at += n;
        for (const k of local.keys) {
          const v = arr.slice(at, at + n);
          at += n;
          means.addByQuartile(k, v, t, numTimesteps);
          if (k === 'loss') all.loss.push(...v);
        }
        all.t.push(...t);
      }
    }
    return all;
  }

  /**
   * Throws when tensors that every rank updates identically (the EMA weights) differ between
   * ranks: compares per-tensor float64 sums. The sums' own rounding may depend on the thread
   * count of each rank, hence a relative 1e-9, far below any real divergence.
   */
  checkIdentical(tensors: Tensor[], what: string): void {
    torch.tidy(() => {
      const sums = torch.stack(tensors.map((p) => p.detach().to('cpu').double().sum()));
      const hi = sums.clone();
      const lo = sums.neg();
      torch.distributed.allReduce(hi, 'max');
      torch.distributed.allReduce(lo, 'max');
      const gap = hi.add(lo).abs().max().item();
      const scale = hi.abs().max().item();
      if (!(gap <= 1e-9 * Math.max(1, scale))) throw new Error(`${what} differ between the ranks (by ${gap}); the data-parallel replicas went out of step`);
    });
  }

  dispose(): void {
    this.ddp.dispose();
  }
}
