// Progressive distillation's loss (Salimans & Ho 2022, Algorithm 2): on a clean image x, draw a
// student step j of the phase's grid, noise x to its level t, let the frozen teacher take two DDIM
// steps t → t' → t'' of its own grid, and regress the student's x̂_θ(z_t) on the x̃ that makes one
// student DDIM step t → t'' land on the teacher's z_t''.
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';

import type { ModelFn, ModelKwargs } from '../diffusion/enums.js';
import { predictionFromOutput, runModel, type DiffusionModelSpec } from '../samplers/denoiser.js';
import { ddimStep, twoStepTarget, type Level } from './target.js';
import { distillWeight, type DistillWeighting } from './weighting.js';

/** Per-example losses of a microbatch, and the timestep t each one was drawn at. */
export interface DistillLoss {
  /** (B,) w(λ_t) · mean over pixels of (x̃ − x̂_θ(z_t))². */
  loss: Tensor;
  /** (B,) int64: t of each example. */
  timesteps: Tensor;
}

/** The levels of a teacher grid read at the drawn student steps: t, t', t'' per example. */
interface DrawnLevels {
  t: Level;
  tMid: Level;
  tEnd: Level;
  /** ᾱ_t (B,) for the weighting. */
  alphaBarT: Tensor;
  /** t and t' as the model takes them (B,) float32. */
  modelT: Tensor;
  modelTMid: Tensor;
  /** t (B,) int64. */
  timesteps: Tensor;
}

/** A value per example from a per-grid-level table: table[index] as (B,). */
function gather(table: number[], index: Tensor, dtype: torch.DType): Tensor {
  return torch.tidy(() => torch.tensor(table, { dtype: 'float64' }).indexSelect(0, index).to(dtype)); // (B,)
}

function drawLevels(spec: DiffusionModelSpec, grid: readonly number[], j: Tensor): DrawnLevels {
  const ac = spec.alphasCumprod;
  const T = ac.length;
  const down = [...grid].reverse(); // d₀ > d₁ > … > d_{2N−1}
  const n = down.length / 2;
  // Student step j: t = d_{2j}, t' = d_{2j+1}, t'' = d_{2j+2} (ᾱ = 1, the clean image, past the end).
  const abAt = (k: number): number => (k < down.length ? ac[down[k]!]! : 1);
  const at = (off: number): number[] => Array.from({ length: n }, (_, i) => abAt(2 * i + off));
  const scale = spec.rescaleTimesteps ? 1000 / T : 1;
  return torch.tidy(() => {
    const level = (abs: number[]): Level => {
      const ab = gather(abs, j, 'float32').view([-1, 1, 1, 1]); // (B, 1, 1, 1)
      return { alpha: ab.sqrt().keep(), sigma: ab.rsub(1).clamp(0).sqrt().keep() };
    };
    return {
      t: level(at(0)),
      tMid: level(at(1)),
      tEnd: level(at(2)),
      alphaBarT: gather(at(0), j, 'float32').keep(),
      modelT: gather(Array.from({ length: n }, (_, i) => down[2 * i]! * scale), j, 'float32').keep(),
      modelTMid: gather(Array.from({ length: n }, (_, i) => down[2 * i + 1]! * scale), j, 'float32').keep(),
      timesteps: gather(Array.from({ length: n }, (_, i) => down[2 * i]!), j, 'int64').keep(),
    };
  });
}

/** x̂ of a model at per-example levels (B,) (the spec's clipping applies). */
function xHat(spec: DiffusionModelSpec, z: Tensor, modelT: Tensor, level: Level, kwargs: ModelKwargs): Tensor {
  return torch.tidy(() => {
    const { out } = runModel(spec, z, modelT, kwargs); // (B, C, H, W)
    return predictionFromOutput(spec, z, out, level.alpha.square()).x0; // (B, C, H, W)
  });
}

/**
 * The progressive-distillation loss of one microbatch.
 * @param teacher the frozen teacher (its DDIM is what the student learns; clipDenoised as it samples).
 * @param student the student network (same schedule and parameterization as the teacher).
 * @param grid the teacher's grid for this phase: 2N timesteps, ascending.
 * @param x0 clean images (B, C, H, W).
 * @param kwargs model inputs (labels), given to both.
 * @param weighting 'truncated-snr' or 'snr+1'.
 * @returns per-example losses (B,) with gradients to the student, and the drawn t.
 */
export function progressiveDistillationLoss(
  teacher: DiffusionModelSpec,
  student: ModelFn,
  grid: readonly number[],
  x0: Tensor,
  kwargs: ModelKwargs,
  weighting: DistillWeighting,
): DistillLoss {
  const B = x0.size(0);
  // 1. A student step j ~ U{0, …, N−1} per image (Algorithm 2 draws t = i/N).
  const j = torch.randint(0, grid.length / 2, [B], { device: x0.device }); // (B,)
  const lv = drawLevels(teacher, grid, j);
  try {
    return torch.tidy(() => {
      // 2. z_t = α_t x + σ_t ε.
      const eps = torch.randnLike(x0); // (B, C, H, W)
      const zt = x0.mul(lv.t.alpha).add(eps.mul(lv.t.sigma)); // (B, C, H, W)
      // 3. Two teacher DDIM steps: z_t' = α_t' x̂_η(z_t) + (σ_t'/σ_t)(z_t − α_t x̂_η(z_t)), then t' → t''.
      const ztt = torch.noGrad(() => {
        const zMid = ddimStep(zt, xHat(teacher, zt, lv.modelT, lv.t, kwargs), lv.t, lv.tMid); // (B, C, H, W)
        return ddimStep(zMid, xHat(teacher, zMid, lv.modelTMid, lv.tMid, kwargs), lv.tMid, lv.tEnd); // (B, C, H, W)
      });
      // 4. The target x̃ one student step t → t'' must predict.
      const target = twoStepTarget(zt, ztt, lv.t, lv.tEnd); // (B, C, H, W)
      // 5. L = w(λ_t) ‖x̃ − x̂_θ(z_t)‖², the student's x̂ unclipped (a clamp would stop its gradient).
      const pred = xHat({ ...teacher, model: student, clipDenoised: false }, zt, lv.modelT, lv.t, kwargs); // (B, C, H, W)
      const mse = pred.sub(target).square().flatten(1).mean(1); // (B,)
      return { loss: mse.mul(distillWeight(lv.alphaBarT, weighting)), timesteps: lv.timesteps.clone() };
    });
  } finally {
    torch.dispose([j, lv.t.alpha, lv.t.sigma, lv.tMid.alpha, lv.tMid.sigma, lv.tEnd.alpha, lv.tEnd.sigma, lv.alphaBarT, lv.modelT, lv.modelTMid, lv.timesteps]);
  }
}
