// What every sampler knows of a model: a discrete-time model description, and two views of it.
//   (a) predict(x_t, t) → { ε, x_0 } at a training timestep (DDPM, DDIM), and
//   (b) a Karras denoiser D(x, σ) → x_0 for the VE-form samplers (Euler, Heun, DPM-Solver++):
//       x = x_t / √ᾱ, so the model sees x √ᾱ(σ) = x / √(1+σ²) at the fractional timestep
//       whose log σ interpolates the discrete ones (k-diffusion's DiscreteEpsDDPMDenoiser).
// The conversions between ε, x_0 and v live in diffusion/parameterization.ts.
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';
import { ModelMeanType, ModelVarType, type ModelFn, type ModelKwargs } from '../diffusion/enums.js';
import { epsFromV, epsFromXstart, xstartFromEps, xstartFromV } from '../diffusion/parameterization.js';
import { conditionScore, guidanceGradient, type ClassifierGuidance } from '../guidance/classifier.js';
import { DiscreteSigmas } from './sigmas.js';

/** A trained discrete-time diffusion model, as the samplers need it. */
export interface DiffusionModelSpec {
  /** The network: (x_t (B, C, H, W), t (B,) float32, kwargs) → (B, C or 2C, H, W). */
  model: ModelFn;
  /** ᾱ_t for t = 0..T−1 of the schedule it was trained on (float64, decreasing). */
  alphasCumprod: Float64Array;
  /** What the first C output channels predict. */
  meanType: ModelMeanType;
  /** The reverse variance; LEARNED and LEARNED_RANGE models output 2C channels. */
  varType: ModelVarType;
  /** The model was trained on t · 1000 / T rather than t (improved-diffusion's rescale_timesteps). */
  rescaleTimesteps: boolean;
  /** Clamp predicted x_0 to [−1, 1] (images in [−1, 1]); default false. */
  clipDenoised?: boolean;
}

/** A model's two predictions of one x_t. */
export interface Prediction {
  /** ε̂ (B, C, H, W). */
  eps: Tensor;
  /** x̂_0 (B, C, H, W), clipped when the spec asks. */
  x0: Tensor;
}

/** The first C channels of a model output and, for learned variances, the other C. */
export interface ModelOutput {
  /** The mean prediction (ε, x_0, v or x_{t−1}) (B, C, H, W). */
  out: Tensor;
  /** log σ² (LEARNED) or v ∈ [−1, 1] (LEARNED_RANGE) (B, C, H, W); null for fixed variances. */
  varValues: Tensor | null;
}

/** True when the model outputs 2C channels (a learned variance). */
export function learnsSigma(spec: Pick<DiffusionModelSpec, 'varType'>): boolean {
  return spec.varType === ModelVarType.LEARNED || spec.varType === ModelVarType.LEARNED_RANGE;
}

/**
 * The timestep tensor the model sees for a (possibly fractional) timestep t ∈ [0, T−1].
 * @returns (B,) float32: t, or t · 1000 / T when the model rescales timesteps.
 */
export function modelTimesteps(spec: DiffusionModelSpec, t: number, batch: number, device: torch.Device = 'cpu'): Tensor {
  const value = spec.rescaleTimesteps ? (t * 1000) / spec.alphasCumprod.length : t;
  return torch.full([batch], value, { device }); // (B,)
}

/**
 * Calls the model and splits a learned-variance output.
 * @param spec the model; @param x x_t (B, C, H, W); @param tModel its timesteps (B,) from modelTimesteps.
 * @param kwargs extra model inputs (e.g. `{ y }`).
 * @returns the mean channels and, for learned variances, the variance channels.
 */
export function runModel(spec: DiffusionModelSpec, x: Tensor, tModel: Tensor, kwargs: ModelKwargs): ModelOutput {
  const C = x.size(1);
  const raw = spec.model(x, tModel, kwargs); // (B, C or 2C, H, W)
  const expected = learnsSigma(spec) ? 2 * C : C;
  if (raw.size(1) !== expected) {
    const got = raw.size(1);
    raw.dispose();
    throw new Error(`model output has ${got} channels; a ${spec.varType} model with ${C} input channels must output ${expected}`);
  }
  if (expected === C) return { out: raw, varValues: null };
  const [out, varValues] = raw.split(C, 1) as [Tensor, Tensor]; // (B, C, H, W) each
  raw.dispose();
  return { out, varValues };
}

/**
 * ε̂ and x̂_0 from a model's mean channels (eq. 4 of Ho et al. 2020 solved either way, or v).
 * With clipDenoised, x̂_0 is clamped and ε̂ re-derived from it (improved-diffusion's DDIM).
 * @param spec the model; @param x x_t (B, C, H, W); @param out the mean channels (B, C, H, W).
 * @param alphaBar ᾱ of x_t: a number, or a tensor broadcastable to x (e.g. (B, 1, 1, 1)).
 * @returns the prediction (fresh tensors).
 */
export function predictionFromOutput(spec: DiffusionModelSpec, x: Tensor, out: Tensor, alphaBar: number | Tensor): Prediction {
  return torch.tidy(() => {
    // A number, or per-example levels (B, 1, 1, 1) (distillation draws a level per image).
    const ab = typeof alphaBar === 'number' ? torch.scalarTensor(alphaBar, { dtype: 'float64', device: x.device }) : alphaBar; // () or (B, 1, 1, 1)
    let eps: Tensor;
    let x0: Tensor;
    switch (spec.meanType) {
      case ModelMeanType.EPSILON:
        eps = out.clone();
        x0 = xstartFromEps(x, out, ab);
        break;
      case ModelMeanType.START_X:
        x0 = out.clone();
        eps = epsFromXstart(x, out, ab);
        break;
      case ModelMeanType.VELOCITY:
        x0 = xstartFromV(x, out, ab);
        eps = epsFromV(x, out, ab);
        break;
      default:
        throw new Error(
          `a ${spec.meanType} model predicts x_{t-1} of its own chain only: sample it with the 'ddpm' sampler over all T timesteps`,
        );
    }
    if (spec.clipDenoised === true) {
      x0 = x0.clamp(-1, 1);
      eps = epsFromXstart(x, x0, ab);
    }
    return { eps, x0 };
  });
}

/**
 * The model's ε̂ and x̂_0 of x_t at a (possibly fractional) timestep, with classifier guidance
 * applied to ε̂ (condition_score) when given.
 * @param spec the model; @param x x_t (B, C, H, W) in VP scale.
 * @param t the timestep in [0, T−1] the model is asked at; @param alphaBar ᾱ of x_t.
 * @param kwargs extra model inputs; @param classifier optional classifier guidance.
 * @returns the prediction (fresh tensors).
 */
export function predictAt(
  spec: DiffusionModelSpec,
  x: Tensor,
  t: number,
  alphaBar: number,
  kwargs: ModelKwargs,
  classifier?: ClassifierGuidance,
): Prediction {
  return torch.tidy(() => {
    const tModel = modelTimesteps(spec, t, x.size(0), x.device); // (B,)
    const { out } = runModel(spec, x, tModel, kwargs);
    const pred = predictionFromOutput(spec, x, out, alphaBar);
    if (classifier === undefined) return pred;
    const eps = conditionScore(pred.eps, alphaBar, guidanceGradient(classifier, x, tModel, kwargs)); // (B, C, H, W)
    const ab = torch.scalarTensor(alphaBar, { dtype: 'float64', device: x.device }); // ()
    return { eps, x0: xstartFromEps(x, eps, ab) };
  });
}

/**
 * The discrete predictor at a training timestep.
 * @param spec the model; @param x x_t (B, C, H, W); @param t an integer timestep in [0, T).
 * @param kwargs extra model inputs; @param classifier optional classifier guidance.
 * @returns { eps, x0 } (fresh tensors).
 */
export function predict(
  spec: DiffusionModelSpec,
  x: Tensor,
  t: number,
  kwargs: ModelKwargs = {},
  classifier?: ClassifierGuidance,
): Prediction {
  return predictAt(spec, x, t, spec.alphasCumprod[t]!, kwargs, classifier);
}

/** A Karras denoiser: x in VE form (x_0 + σ ε), σ ≥ σ_min → x̂_0 (B, C, H, W). */
export type KarrasDenoiser = (x: Tensor, sigma: number) => Tensor;

/**
 * The model as a VE-form denoiser D(x, σ) ≈ E[x_0 | x_0 + σ ε = x] (Karras et al. 2022, sec. 2).
 * Outside [σ_min, σ_max] the model is asked at the nearest end timestep (the σ grids here stay inside).
 * @param spec the model; @param sigmas its discrete noise levels (new DiscreteSigmas(ᾱ)).
 * @param kwargs extra model inputs; @param classifier optional classifier guidance.
 * @returns D, evaluating the model once per call.
 */
export function karrasDenoiser(
  spec: DiffusionModelSpec,
  sigmas: DiscreteSigmas,
  kwargs: ModelKwargs = {},
  classifier?: ClassifierGuidance,
): KarrasDenoiser {
  return (x, sigma) =>
    torch.tidy(() => {
      const cIn = 1 / Math.sqrt(1 + sigma * sigma); // √ᾱ(σ): x √ᾱ is the VP x_t
      const xVp = x.mul(cIn); // (B, C, H, W)
      return predictAt(spec, xVp, sigmas.sigmaToT(sigma), cIn * cIn, kwargs, classifier).x0; // (B, C, H, W)
    });
}
