// Samplers of training timesteps (improved-diffusion's resample.py): uniform, or importance
// sampling by the loss's second moment (Nichol & Dhariwal 2021, eq. 17) to reduce the variance
// of L_vlb. Each draw comes with importance weights that keep the loss estimate unbiased.
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';

/** A batch of timesteps and their importance weights. */
export interface TimestepSample {
  /** Timestep indices (B,), int64. */
  timesteps: Tensor;
  /** 1 / (T p_t) for each drawn t (B,), float32: the mean of weight·loss is unbiased for the uniform mean. */
  weights: Tensor;
}

/** A distribution over timesteps to reduce the variance of the objective. */
export interface ScheduleSampler {
  /** Unnormalized, positive weights per timestep (T,). */
  weights(): Float64Array;
  /**
   * Importance-samples timesteps for a batch.
   * @param batchSize B.
   * @param generator the random source.
   * @param device where the result lives (default cpu).
   */
  sample(batchSize: number, generator?: torch.Generator, device?: torch.Device): TimestepSample;
}

/** A sampler that learns from the losses it sees. */
export interface LossAwareSampler extends ScheduleSampler {
  /**
   * Records this batch's per-example losses at their timesteps (one process: no gathering).
   * @param ts timesteps (B,).
   * @param losses per-example losses (B,).
   */
  updateWithLocalLosses(ts: Tensor | ArrayLike<number>, losses: Tensor | ArrayLike<number>): void;
}

/** True when the sampler wants updateWithLocalLosses after each step. */
export function isLossAware(s: ScheduleSampler): s is LossAwareSampler {
  return typeof (s as Partial<LossAwareSampler>).updateWithLocalLosses === 'function';
}

/**
 * Draws B timesteps with p ∝ w and weights 1 / (T p_t) (resample.py's ScheduleSampler.sample).
 * @param w positive weights (T,).
 * @param batchSize B.
 * @param generator the random source.
 * @param device where the result lives.
 */
export function sampleFromWeights(w: Float64Array, batchSize: number, generator?: torch.Generator, device: torch.Device = 'cpu'): TimestepSample {
  const total = w.reduce((a, b) => a + b, 0);
  const p = w.map((v) => v / total);
  const indices = torch.tidy(() => torch.multinomial(torch.tensor(p), batchSize, true, generator)); // (B,) int64
  const weights = Float64Array.from(indices.toArray(), (i) => 1 / (p.length * p[i]!));
  const timesteps = device === 'cpu' ? indices : torch.tidy(() => indices.to(device));
  if (timesteps !== indices) indices.dispose();
  return { timesteps, weights: torch.tensor(weights, { dtype: 'float32', device }) };
}

/** Minimal view of a diffusion that samplers need. */
export interface HasNumTimesteps {
  readonly numTimesteps: number;
}

/** Uniform timesteps, all weights 1. */
export class UniformSampler implements ScheduleSampler {
  readonly numTimesteps: number;
  /** @param diffusion the diffusion (its numTimesteps). */
  constructor(diffusion: HasNumTimesteps) {
    this.numTimesteps = diffusion.numTimesteps;
  }
  weights(): Float64Array {
    return new Float64Array(this.numTimesteps).fill(1);
  }
  sample(batchSize: number, generator?: torch.Generator, device?: torch.Device): TimestepSample {
    return sampleFromWeights(this.weights(), batchSize, generator, device);
  }
}

/** The JSON-able state of a LossSecondMomentResampler. */
export interface LossSecondMomentState {
  numTimesteps: number;
  historyPerTerm: number;
  uniformProb: number;
  /** (T, historyPerTerm) recent losses per timestep, oldest first. */
  lossHistory: number[][];
  /** How many of each row are filled. */
  lossCounts: number[];
}

function toNumbers(v: Tensor | ArrayLike<number>): number[] {
  return v instanceof torch.Tensor ? v.detach().toArray() : Array.from(v);
}

/**
 * Importance sampling with p_t ∝ √E[L_t²], estimated from the last `historyPerTerm` losses seen
 * at each t, mixed with a little uniform mass; uniform until every t has a full history.
 */
export class LossSecondMomentResampler implements LossAwareSampler {
  readonly numTimesteps: number;
  readonly historyPerTerm: number;
  readonly uniformProb: number;
  private lossHistory: Float64Array[];
  private lossCounts: Int32Array;

  /**
   * @param diffusion the diffusion (its numTimesteps).
   * @param historyPerTerm losses remembered per timestep (default 10).
   * @param uniformProb probability mass spread uniformly (default 0.001).
   */
  constructor(diffusion: HasNumTimesteps, historyPerTerm = 10, uniformProb = 0.001) {
    this.numTimesteps = diffusion.numTimesteps;
    this.historyPerTerm = historyPerTerm;
    this.uniformProb = uniformProb;
    this.lossHistory = Array.from({ length: this.numTimesteps }, () => new Float64Array(historyPerTerm));
    this.lossCounts = new Int32Array(this.numTimesteps);
  }

  /** True once every timestep has a full history. */
  warmedUp(): boolean {
    return this.lossCounts.every((c) => c === this.historyPerTerm);
  }

  weights(): Float64Array {
    const T = this.numTimesteps;
    if (!this.warmedUp()) return new Float64Array(T).fill(1);
    const w = Float64Array.from(this.lossHistory, (h) => Math.sqrt(h.reduce((a, l) => a + l * l, 0) / h.length));
    const total = w.reduce((a, b) => a + b, 0);
    return w.map((v) => (v / total) * (1 - this.uniformProb) + this.uniformProb / T);
  }

  sample(batchSize: number, generator?: torch.Generator, device?: torch.Device): TimestepSample {
    return sampleFromWeights(this.weights(), batchSize, generator, device);
  }

  updateWithLocalLosses(ts: Tensor | ArrayLike<number>, losses: Tensor | ArrayLike<number>): void {
    const tArr = toNumbers(ts);
    const lArr = toNumbers(losses);
    if (tArr.length !== lArr.length) throw new RangeError(`${tArr.length} timesteps but ${lArr.length} losses`);
    tArr.forEach((t, k) => {
      if (!Number.isInteger(t) || t < 0 || t >= this.numTimesteps) throw new RangeError(`timestep ${t} out of range`);
      const h = this.lossHistory[t]!;
      if (this.lossCounts[t] === this.historyPerTerm) {
        // Shift out the oldest loss.
        h.copyWithin(0, 1);
        h[this.historyPerTerm - 1] = lArr[k]!;
      } else {
        h[this.lossCounts[t]!] = lArr[k]!;
        this.lossCounts[t] = this.lossCounts[t]! + 1;
      }
    });
  }

  /** The history, as plain JSON, to save with a checkpoint. */
  stateDict(): LossSecondMomentState {
    return {
      numTimesteps: this.numTimesteps,
      historyPerTerm: this.historyPerTerm,
      uniformProb: this.uniformProb,
      lossHistory: this.lossHistory.map((h) => Array.from(h)),
      lossCounts: Array.from(this.lossCounts),
    };
  }

  /** Restores a stateDict(); the number of timesteps and the history length must match. */
  loadStateDict(state: LossSecondMomentState): void {
    if (state.numTimesteps !== this.numTimesteps || state.historyPerTerm !== this.historyPerTerm) {
      throw new RangeError(`sampler state is for T=${state.numTimesteps}, history ${state.historyPerTerm}; this sampler has T=${this.numTimesteps}, history ${this.historyPerTerm}`);
    }
    if (state.lossHistory.length !== this.numTimesteps || state.lossCounts.length !== this.numTimesteps) throw new RangeError('sampler state has the wrong number of rows');
    this.lossHistory = state.lossHistory.map((row) => {
      if (row.length !== this.historyPerTerm) throw new RangeError('sampler state row has the wrong length');
      return Float64Array.from(row);
    });
    this.lossCounts = Int32Array.from(state.lossCounts);
  }
}

/** The names createNamedScheduleSampler knows. */
export type ScheduleSamplerName = 'uniform' | 'loss-second-moment';

/**
 * A sampler by name (improved-diffusion's create_named_schedule_sampler).
 * @param name 'uniform' or 'loss-second-moment'.
 * @param diffusion the diffusion to sample for.
 */
export function createNamedScheduleSampler(name: ScheduleSamplerName | string, diffusion: HasNumTimesteps): ScheduleSampler {
  switch (name) {
    case 'uniform': return new UniformSampler(diffusion);
    case 'loss-second-moment': return new LossSecondMomentResampler(diffusion);
    default: throw new Error(`unknown schedule sampler: ${name} (expected 'uniform' or 'loss-second-moment')`);
  }
}
