// The Gaussian diffusion process (improved-diffusion's GaussianDiffusion): float64 tables, the
// forward process q, the model's reverse process p, and the predictions that connect them.
// Sampling loops, training losses and the bound live in their own files and are exposed here as
// methods, so a diffusion object carries the whole API.
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';
import { calcBpdLoop, priorBpd, vbTermsBpd } from './bpd.js';
import { ddimReverseSample, ddimReverseSampleLoop, ddimSample, ddimSampleLoop, ddimSampleLoopProgressive } from './ddim-sample.js';
import { LossType, ModelMeanType, ModelVarType, type ModelFn, type ModelKwargs } from './enums.js';
import { extractIntoTensor } from './extract.js';
import { pSample, pSampleLoop, pSampleLoopProgressive } from './p-sample.js';
import { epsFromXstart, xstartFromEps, xstartFromV } from './parameterization.js';
import { computeDiffusionTables, type DiffusionTables } from './tables.js';
import { trainingLosses } from './training-losses.js';
import type {
  BpdOptions, BpdResult, CondFn, DdimLoopOptions, DdimReverseLoopOptions, DdimStepOptions, GaussianDiffusionOptions,
  GaussianResult, PMeanVarianceOptions, PMeanVarianceResult, ProgressiveStep, SampleLoopOptions, SampleStepOptions,
  StepOutput, TrainingLosses, TrainingLossOptions, VbTerms,
} from './types.js';

/** Model functions that already apply a diffusion's timestep convention (never wrapped twice). */
const wrappedModels = new WeakSet<ModelFn>();

/** Marks fn as wrapped (for wrapModel implementations). */
export function markWrapped(fn: ModelFn): ModelFn {
  wrappedModels.add(fn);
  return fn;
}

/** True when fn came from a diffusion's wrapModel. */
export function isWrapped(fn: ModelFn): boolean {
  return wrappedModels.has(fn);
}

/** min-SNR-γ weights of the simple term per timestep (Hang et al. 2023), float64. */
function minSnrWeights(snr: Float64Array, gamma: number, meanType: ModelMeanType): Float64Array {
  if (!(gamma > 0)) throw new RangeError(`minSnrGamma must be positive, got ${gamma}`);
  switch (meanType) {
    // min(SNR, γ)/SNR → 1 as SNR → 0 (zero-terminal-SNR schedules end there).
    case ModelMeanType.EPSILON: return snr.map((s) => (s === 0 ? 1 : Math.min(s, gamma) / s));
    case ModelMeanType.START_X: return snr.map((s) => Math.min(s, gamma));
    case ModelMeanType.VELOCITY: return snr.map((s) => Math.min(s, gamma) / (s + 1));
    default: throw new Error(`min-SNR weighting is not defined for ${meanType}`);
  }
}

/**
 * Utilities for training and sampling diffusion models (Ho et al. 2020; Nichol & Dhariwal 2021).
 * Timesteps t are int64 (B,) tensors with 0 meaning one step of noise; tensors follow x's dtype
 * and device, and every table is float64 until it is indexed.
 */
export class GaussianDiffusion implements DiffusionTables {
  readonly modelMeanType: ModelMeanType;
  readonly modelVarType: ModelVarType;
  readonly lossType: LossType;
  readonly rescaleTimesteps: boolean;
  readonly minSnrGamma: number | undefined;
  /** T. */
  readonly numTimesteps: number;
  readonly betas!: Float64Array;
  readonly alphas!: Float64Array;
  readonly alphasCumprod!: Float64Array;
  readonly alphasCumprodPrev!: Float64Array;
  readonly alphasCumprodNext!: Float64Array;
  readonly sqrtAlphasCumprod!: Float64Array;
  readonly sqrtOneMinusAlphasCumprod!: Float64Array;
  readonly logOneMinusAlphasCumprod!: Float64Array;
  readonly sqrtRecipAlphasCumprod!: Float64Array;
  readonly sqrtRecipm1AlphasCumprod!: Float64Array;
  readonly posteriorVariance!: Float64Array;
  readonly posteriorLogVarianceClipped!: Float64Array;
  readonly posteriorMeanCoef1!: Float64Array;
  readonly posteriorMeanCoef2!: Float64Array;
  readonly logBetas!: Float64Array;
  readonly fixedLargeVariance!: Float64Array;
  readonly fixedLargeLogVariance!: Float64Array;
  readonly snr!: Float64Array;
  /** Weights of the simple loss term per t (min-SNR-γ), or undefined for none. */
  readonly lossWeights: Float64Array | undefined;

  /**
   * @param options β, the mean/variance parameterization, the loss, and whether the model sees
   *   rescaled timesteps (see GaussianDiffusionOptions).
   */
  constructor(options: GaussianDiffusionOptions) {
    Object.assign(this, computeDiffusionTables(options.betas));
    this.numTimesteps = this.betas.length;
    this.modelMeanType = options.modelMeanType;
    this.modelVarType = options.modelVarType;
    this.lossType = options.lossType;
    this.rescaleTimesteps = options.rescaleTimesteps ?? false;
    this.minSnrGamma = options.minSnrGamma;
    this.lossWeights = options.minSnrGamma === undefined ? undefined : minSnrWeights(this.snr, options.minSnrGamma, this.modelMeanType);
  }

  /** True when the model outputs 2C channels (mean part, variance part). */
  get learnsSigma(): boolean {
    return this.modelVarType === ModelVarType.LEARNED || this.modelVarType === ModelVarType.LEARNED_RANGE;
  }

  /**
   * The timesteps the model sees: t·1000/T as float32 when rescaleTimesteps, else t itself.
   * @param t timesteps (B,).
   */
  scaleTimesteps(t: Tensor): Tensor {
    return this.rescaleTimesteps ? torch.tidy(() => t.to('float32').mul(1000 / this.numTimesteps)) : t;
  }

  /**
   * The model as this diffusion calls it: timesteps converted to model time. Wrapping twice is a
   * no-op, so wrapped and unwrapped models may be passed to every method.
   * @param model the model.
   * @returns a model function taking this diffusion's timestep indices.
   */
  wrapModel(model: ModelFn): ModelFn {
    if (isWrapped(model)) return model;
    return markWrapped((x, t, kwargs) => {
      const modelTime = this.scaleTimesteps(t);
      try {
        return model(x, modelTime, kwargs);
      } finally {
        if (modelTime !== t) modelTime.dispose();
      }
    });
  }

  /** arr[t] shaped (B, 1, ..., 1) like x (improved-diffusion's _extract_into_tensor). */
  extract(arr: Float64Array, t: Tensor, like: Tensor): Tensor {
    return extractIntoTensor(arr, t, like);
  }

  // ---- the forward process q ------------------------------------------------------------------

  /**
   * q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I).
   * @param xStart x_0 (B, C, H, W).
   * @param t timesteps (B,).
   * @returns mean (x's shape), variance and log variance ((B, 1, 1, 1)).
   */
  qMeanVariance(xStart: Tensor, t: Tensor): GaussianResult {
    return torch.tidy(() => ({
      mean: this.extract(this.sqrtAlphasCumprod, t, xStart).mul(xStart), // (B, C, H, W)
      variance: this.extract(this.alphasCumprod, t, xStart).rsub(1), // (B, 1, 1, 1)
      logVariance: this.extract(this.logOneMinusAlphasCumprod, t, xStart), // (B, 1, 1, 1)
    }));
  }

  /**
   * Diffuses data t+1 steps: a draw from q(x_t | x_0) = √ᾱ_t x_0 + √(1 − ᾱ_t) ε.
   * @param xStart x_0 (B, C, H, W).
   * @param t timesteps (B,).
   * @param noise ε (x_0's shape); drawn with `generator` when absent.
   * @param generator the random source for ε.
   * @returns x_t (B, C, H, W).
   */
  qSample(xStart: Tensor, t: Tensor, noise?: Tensor | null, generator?: torch.Generator): Tensor {
    return torch.tidy(() => {
      const eps = noise ?? torch.randnLike(xStart, { generator });
      if (eps.shape.join() !== xStart.shape.join()) throw new RangeError(`noise shape [${eps.shape}] differs from x_start [${xStart.shape}]`);
      const a = this.extract(this.sqrtAlphasCumprod, t, xStart); // (B, 1, 1, 1)
      const s = this.extract(this.sqrtOneMinusAlphasCumprod, t, xStart); // (B, 1, 1, 1)
      return a.mul(xStart).add(s.mul(eps)); // (B, C, H, W)
    });
  }

  /**
   * The posterior q(x_{t−1} | x_t, x_0) = N(μ̃_t, β̃_t I) (Ho et al. 2020, eqs. 6–7).
   * @param xStart x_0 (B, C, H, W).
   * @param xT x_t (B, C, H, W).
   * @param t timesteps (B,).
   * @returns mean (x's shape), variance and clipped log variance ((B, 1, 1, 1)).
   */
  qPosteriorMeanVariance(xStart: Tensor, xT: Tensor, t: Tensor): GaussianResult {
    if (xStart.shape.join() !== xT.shape.join()) throw new RangeError('x_start and x_t must have the same shape');
    return torch.tidy(() => ({
      mean: this.extract(this.posteriorMeanCoef1, t, xT).mul(xStart).add(this.extract(this.posteriorMeanCoef2, t, xT).mul(xT)),
      variance: this.extract(this.posteriorVariance, t, xT),
      logVariance: this.extract(this.posteriorLogVarianceClipped, t, xT),
    }));
  }

  // ---- predictions ---------------------------------------------------------------------------

  /** x_0 from ε: (x_t − √(1 − ᾱ_t) ε) / √ᾱ_t. */
  predictXstartFromEps(xT: Tensor, t: Tensor, eps: Tensor): Tensor {
    return torch.tidy(() => xstartFromEps(xT, eps, this.extract(this.alphasCumprod, t, xT)));
  }

  /** ε from x_0: (x_t − √ᾱ_t x_0) / √(1 − ᾱ_t). */
  predictEpsFromXstart(xT: Tensor, t: Tensor, predXstart: Tensor): Tensor {
    return torch.tidy(() => epsFromXstart(xT, predXstart, this.extract(this.alphasCumprod, t, xT)));
  }

  /** x_0 from v: √ᾱ_t x_t − √(1 − ᾱ_t) v. */
  predictXstartFromV(xT: Tensor, t: Tensor, v: Tensor): Tensor {
    return torch.tidy(() => xstartFromV(xT, v, this.extract(this.alphasCumprod, t, xT)));
  }

  /** x_0 from the posterior mean x_{t−1}: inverts μ̃_t = coef1·x_0 + coef2·x_t. */
  predictXstartFromXprev(xT: Tensor, t: Tensor, xprev: Tensor): Tensor {
    return torch.tidy(() => {
      const c1 = this.extract(this.posteriorMeanCoef1, t, xT); // (B, 1, 1, 1)
      const c2 = this.extract(this.posteriorMeanCoef2, t, xT);
      return xprev.sub(c2.mul(xT)).div(c1);
    });
  }

  // ---- the reverse process p -------------------------------------------------------------------

  /**
   * Applies the model to get p(x_{t−1} | x_t) and a prediction of x_0.
   * @param model the model (B, C or 2C, H, W) out.
   * @param x x_t (B, C, H, W).
   * @param t timesteps (B,).
   * @param options clipDenoised (default true), denoisedFn, modelKwargs.
   * @returns mean, variance, logVariance, predXstart (x's shape) and the raw modelOutput.
   */
  pMeanVariance(model: ModelFn, x: Tensor, t: Tensor, options: PMeanVarianceOptions = {}): PMeanVarianceResult {
    return torch.tidy(() => {
      const output = this.wrapModel(model)(x, t, options.modelKwargs ?? {});
      return this.pMeanVarianceFromOutput(output, x, t, options);
    });
  }

  /**
   * pMeanVariance given the model's output instead of the model (for guidance that combines
   * outputs, and for the frozen-mean VB term).
   * @param output the model output (B, C or 2C, H, W).
   * @param x x_t (B, C, H, W).
   * @param t timesteps (B,).
   * @param options clipDenoised (default true), denoisedFn.
   */
  pMeanVarianceFromOutput(output: Tensor, x: Tensor, t: Tensor, options: PMeanVarianceOptions = {}): PMeanVarianceResult {
    const [B, C] = x.shape as [number, number];
    if (t.shape.join() !== `${B}`) throw new RangeError(`t must have shape [${B}], got [${t.shape}]`);
    const outC = this.learnsSigma ? 2 * C : C;
    const expected = [B, outC, ...x.shape.slice(2)];
    if (output.shape.join() !== expected.join()) throw new RangeError(`model output shape [${output.shape}], expected [${expected}]`);
    return torch.tidy(() => {
      let modelOutput = output;
      let logVariance: Tensor;
      if (this.learnsSigma) {
        const [meanPart, varValues] = output.split(C, 1) as [Tensor, Tensor]; // (B, C, H, W) each
        modelOutput = meanPart;
        if (this.modelVarType === ModelVarType.LEARNED) {
          logVariance = varValues;
        } else {
          // The model's value in [−1, 1] interpolates log β̃_t (min) and log β_t (max) (Nichol & Dhariwal eq. 15).
          const minLog = this.extract(this.posteriorLogVarianceClipped, t, x); // (B, 1, 1, 1)
          const maxLog = this.extract(this.logBetas, t, x);
          const frac = varValues.add(1).div(2); // (B, C, H, W)
          logVariance = frac.mul(maxLog).add(frac.rsub(1).mul(minLog));
        }
      } else {
        const table = this.modelVarType === ModelVarType.FIXED_LARGE ? this.fixedLargeLogVariance : this.posteriorLogVarianceClipped;
        logVariance = this.extract(table, t, x).expand(x.shape); // (B, C, H, W)
      }
      const variance = this.modelVarType === ModelVarType.FIXED_LARGE
        ? this.extract(this.fixedLargeVariance, t, x).expand(x.shape)
        : this.modelVarType === ModelVarType.FIXED_SMALL
          ? this.extract(this.posteriorVariance, t, x).expand(x.shape)
          : logVariance.exp();
      const processXstart = (z: Tensor): Tensor => {
        const d = options.denoisedFn ? options.denoisedFn(z) : z;
        return options.clipDenoised ?? true ? d.clamp(-1, 1) : d;
      };
      let predXstart: Tensor;
      let mean: Tensor;
      if (this.modelMeanType === ModelMeanType.PREVIOUS_X) {
        predXstart = processXstart(this.predictXstartFromXprev(x, t, modelOutput));
        mean = modelOutput;
      } else {
        const raw = this.modelMeanType === ModelMeanType.START_X ? modelOutput
          : this.modelMeanType === ModelMeanType.EPSILON ? this.predictXstartFromEps(x, t, modelOutput)
            : this.predictXstartFromV(x, t, modelOutput);
        predXstart = processXstart(raw);
        mean = this.qPosteriorMeanVariance(predXstart, x, t).mean;
      }
      // Distinct handles for each field, so disposing one never invalidates another.
      const seen = new Set<Tensor>();
      const own = (v: Tensor): Tensor => (seen.has(v) || v === output ? torch.call<Tensor>('aten::alias', [v]) : (seen.add(v), v));
      return { mean: own(mean), variance: own(variance), logVariance: own(logVariance), predXstart: own(predXstart), modelOutput: own(modelOutput) };
    });
  }

  /**
   * Shifts the mean by the classifier gradient: μ + Σ ∇ log p(y | x_t) (Dhariwal & Nichol 2021,
   * guided-diffusion's condition_mean).
   */
  conditionMean(condFn: CondFn, out: PMeanVarianceResult, x: Tensor, t: Tensor, modelKwargs: ModelKwargs = {}): Tensor {
    return torch.tidy(() => out.mean.add(out.variance.mul(this.wrapModel(condFn)(x, t, modelKwargs))));
  }

  /**
   * Shifts the score by the classifier gradient: ε' = ε − √(1 − ᾱ_t) ∇ log p(y | x_t), then
   * recomputes x_0 and the mean (guided-diffusion's condition_score, for DDIM).
   * @returns a new pMeanVariance result (variance fields are copies of out's).
   */
  conditionScore(condFn: CondFn, out: PMeanVarianceResult, x: Tensor, t: Tensor, modelKwargs: ModelKwargs = {}): PMeanVarianceResult {
    return torch.tidy(() => {
      const alphaBar = this.extract(this.alphasCumprod, t, x); // (B, 1, 1, 1)
      const grad = this.wrapModel(condFn)(x, t, modelKwargs); // (B, C, H, W)
      const eps = this.predictEpsFromXstart(x, t, out.predXstart).sub(alphaBar.rsub(1).sqrt().mul(grad));
      const predXstart = this.predictXstartFromEps(x, t, eps);
      const mean = this.qPosteriorMeanVariance(predXstart, x, t).mean;
      return { mean, variance: out.variance.clone(), logVariance: out.logVariance.clone(), predXstart, modelOutput: out.modelOutput.clone() };
    });
  }

  // ---- sampling (p-sample.ts, ddim-sample.ts) ------------------------------------------------------

  /** One ancestral step x_t → x_{t−1} (see p-sample.ts). */
  pSample(model: ModelFn, x: Tensor, t: Tensor, options: SampleStepOptions = {}): StepOutput {
    return pSample(this, model, x, t, options);
  }
  /** Ancestral sampling from x_T to x_0 (see p-sample.ts). */
  pSampleLoop(model: ModelFn, shape: number[], options: SampleLoopOptions = {}): Tensor {
    return pSampleLoop(this, model, shape, options);
  }
  /** Ancestral sampling yielding every step (see p-sample.ts). */
  pSampleLoopProgressive(model: ModelFn, shape: number[], options: SampleLoopOptions = {}): Generator<ProgressiveStep, void, undefined> {
    return pSampleLoopProgressive(this, model, shape, options);
  }
  /** One DDIM step x_t → x_{t−1} (see ddim-sample.ts). */
  ddimSample(model: ModelFn, x: Tensor, t: Tensor, options: DdimStepOptions = {}): StepOutput {
    return ddimSample(this, model, x, t, options);
  }
  /** One deterministic DDIM inversion step x_t → x_{t+1} (η must be 0; see ddim-sample.ts). */
  ddimReverseSample(model: ModelFn, x: Tensor, t: Tensor, options: DdimStepOptions = {}): StepOutput {
    return ddimReverseSample(this, model, x, t, options);
  }
  /** DDIM sampling from x_T to x_0 (see ddim-sample.ts). */
  ddimSampleLoop(model: ModelFn, shape: number[], options: DdimLoopOptions = {}): Tensor {
    return ddimSampleLoop(this, model, shape, options);
  }
  /** DDIM sampling yielding every step (see ddim-sample.ts). */
  ddimSampleLoopProgressive(model: ModelFn, shape: number[], options: DdimLoopOptions = {}): Generator<ProgressiveStep, void, undefined> {
    return ddimSampleLoopProgressive(this, model, shape, options);
  }
  /** Deterministic DDIM inversion x_0 → x_T (see ddim-sample.ts). */
  ddimReverseSampleLoop(model: ModelFn, xStart: Tensor, options: DdimReverseLoopOptions = {}): Tensor {
    return ddimReverseSampleLoop(this, model, xStart, options);
  }

  // ---- training and the bound (training-losses.ts, bpd.ts) -----------------------------------------

  /** Per-example training losses at timesteps t (see training-losses.ts). */
  trainingLosses(model: ModelFn, xStart: Tensor, t: Tensor, options: TrainingLossOptions = {}): TrainingLosses {
    return trainingLosses(this, model, xStart, t, options);
  }
  /** One term of the variational bound in bits/dim (see bpd.ts). */
  vbTermsBpd(model: ModelFn, xStart: Tensor, xT: Tensor, t: Tensor, options: BpdOptions = {}): VbTerms {
    return vbTermsBpd(this, model, xStart, xT, t, options);
  }
  /** The prior term KL(q(x_T | x_0) ‖ N(0, I)) in bits/dim (see bpd.ts). */
  priorBpd(xStart: Tensor): Tensor {
    return priorBpd(this, xStart);
  }
  /** The whole bound of a batch in bits/dim (see bpd.ts). */
  calcBpdLoop(model: ModelFn, xStart: Tensor, options: BpdOptions & { generator?: torch.Generator } = {}): BpdResult {
    return calcBpdLoop(this, model, xStart, options);
  }
}
