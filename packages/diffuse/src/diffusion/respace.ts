// Timestep respacing (Nichol & Dhariwal 2021, section 4): sample with a subsequence of the
// training timesteps. The spaced process keeps ᾱ at the kept steps, so its β_i = 1 − ᾱ_{s_i}/ᾱ_{s_{i−1}},
// and the model is wrapped to still see the original timesteps.
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';
import type { ModelFn } from './enums.js';
import { timestepIndices } from './extract.js';
import { GaussianDiffusion, isWrapped, markWrapped } from './gaussian-diffusion.js';
import { alphasCumprodOf } from './schedules.js';
import type { GaussianDiffusionOptions } from './types.js';

/** Python's round(): halves go to the even neighbour. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * The timesteps to keep from a process of T steps (improved-diffusion's space_timesteps).
 * A list of counts splits [0, T) into that many equal sections and takes that many evenly
 * strided steps from each: T = 300, "10,15,20" takes 10 steps from the first 100, 15 from the
 * next 100 and 20 from the last 100. "ddimN" takes N steps with one integer stride from 0, as
 * the DDIM paper, and fails when no stride gives exactly N.
 * @param numTimesteps T.
 * @param sectionCounts "10,15,20", "ddim50", a list of counts, or one count.
 * @returns the kept timesteps, sorted ascending, distinct.
 */
export function spaceTimesteps(numTimesteps: number, sectionCounts: string | number[] | number): number[] {
  let counts: number[];
  if (typeof sectionCounts === 'string') {
    if (sectionCounts.startsWith('ddim')) {
      const desired = Number.parseInt(sectionCounts.slice('ddim'.length), 10);
      for (let stride = 1; stride < numTimesteps; stride++) {
        if (Math.ceil(numTimesteps / stride) === desired) {
          return Array.from({ length: desired }, (_, i) => i * stride);
        }
      }
      throw new RangeError(`cannot create exactly ${desired} steps from ${numTimesteps} with an integer stride`);
    }
    counts = sectionCounts.split(',').map((s) => Number.parseInt(s, 10));
  } else {
    counts = typeof sectionCounts === 'number' ? [sectionCounts] : sectionCounts;
  }
  if (counts.some((c) => !Number.isInteger(c) || c < 0)) throw new RangeError(`bad section counts: ${String(sectionCounts)}`);
  const sizePer = Math.floor(numTimesteps / counts.length);
  const extra = numTimesteps % counts.length;
  let startIdx = 0;
  const all = new Set<number>();
  counts.forEach((count, i) => {
    const size = sizePer + (i < extra ? 1 : 0);
    if (size < count) throw new RangeError(`cannot divide section of ${size} steps into ${count}`);
    const fracStride = count <= 1 ? 1 : (size - 1) / (count - 1);
    // Accumulate the fractional index exactly as the reference does, so rounding matches.
    let cur = 0;
    for (let k = 0; k < count; k++) {
      all.add(startIdx + roundHalfEven(cur));
      cur += fracStride;
    }
    startIdx += size;
  });
  return [...all].sort((a, b) => a - b);
}

/**
 * β of the process restricted to the kept timesteps: 1 − ᾱ_{s_i} / ᾱ_{s_{i−1}}.
 * @param betas the original β (T,).
 * @param useTimesteps the timesteps to keep.
 * @returns the new β and the map from new index to original timestep.
 */
export function respacedBetas(betas: ArrayLike<number>, useTimesteps: Iterable<number>): { betas: Float64Array; timestepMap: number[] } {
  const timestepMap = [...new Set(useTimesteps)].sort((a, b) => a - b);
  for (const s of timestepMap) {
    if (!Number.isInteger(s) || s < 0 || s >= betas.length) throw new RangeError(`timestep ${s} out of range [0, ${betas.length})`);
  }
  return { betas: respacedBetasFromAlphasCumprod(alphasCumprodOf(betas), timestepMap), timestepMap };
}

/**
 * β'_k = 1 − ᾱ_{τ_k} / ᾱ_{τ_{k−1}} (ᾱ_{τ_{−1}} = 1): the betas of the process that visits only the
 * kept timesteps τ (ascending) and keeps ᾱ there.
 */
export function respacedBetasFromAlphasCumprod(alphasCumprod: ArrayLike<number>, timesteps: readonly number[]): Float64Array {
  let last = 1;
  return Float64Array.from(timesteps, (tau) => {
    const ab = alphasCumprod[tau]!;
    const beta = 1 - ab / last;
    last = ab;
    return beta;
  });
}

/** Options of SpacedDiffusion: the base process's, plus the timesteps to keep. */
export interface SpacedDiffusionOptions extends GaussianDiffusionOptions {
  /** Timesteps of the base process to keep (e.g. from spaceTimesteps). */
  useTimesteps: Iterable<number>;
}

/**
 * A diffusion process that skips steps of a base process. It is a GaussianDiffusion over the
 * kept steps (every method works on indices 0..K−1), whose wrapModel maps those indices back to
 * the original timesteps (rescaled to [0, 1000) if asked) before calling the model, so models
 * trained on the base process run unchanged.
 */
export class SpacedDiffusion extends GaussianDiffusion {
  /** The kept timesteps of the base process. */
  readonly useTimesteps: Set<number>;
  /** timestepMap[i] is the original timestep of spaced index i. */
  readonly timestepMap: number[];
  /** T of the base process. */
  readonly originalNumSteps: number;

  /** @param options the base process's options and useTimesteps. */
  constructor(options: SpacedDiffusionOptions) {
    const { betas, timestepMap } = respacedBetas(options.betas, options.useTimesteps);
    super({ ...options, betas });
    this.useTimesteps = new Set(timestepMap);
    this.timestepMap = timestepMap;
    this.originalNumSteps = options.betas.length;
  }

  /** Timesteps pass through: the wrapped model does the mapping and scaling. */
  override scaleTimesteps(t: Tensor): Tensor {
    return t;
  }

  /**
   * The model with spaced indices mapped to original timesteps (improved-diffusion's
   * _WrappedModel): t ↦ timestepMap[t], then ·1000/T_original as float32 when rescaleTimesteps.
   */
  override wrapModel(model: ModelFn): ModelFn {
    if (isWrapped(model)) return model;
    return markWrapped((x, t, kwargs) => {
      const original = timestepIndices(t, this.numTimesteps).map((i) => this.timestepMap[i]!);
      const modelTime = torch.tidy(() => {
        const mapped = torch.tensor(original, { dtype: t.dtype, device: t.device }); // (B,)
        return this.rescaleTimesteps ? mapped.to('float32').mul(1000 / this.originalNumSteps) : mapped;
      });
      try {
        return model(x, modelTime, kwargs);
      } finally {
        modelTime.dispose();
      }
    });
  }
}
