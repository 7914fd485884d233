// The variational bound in bits/dim (Ho et al. 2020, eq. 5; Nichol & Dhariwal 2021, eqs. 4–7):
// L_vlb = L_0 + Σ_{t>0} L_{t−1} + L_T, with L_{t−1} = KL(q(x_{t−1}|x_t,x_0) ‖ p(x_{t−1}|x_t)),
// L_0 the discretized decoder NLL, and L_T the prior term.
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';
import type { ModelFn } from './enums.js';
import { timestepBatch } from './extract.js';
import type { GaussianDiffusion } from './gaussian-diffusion.js';
import { discretizedGaussianLogLikelihood, meanFlat, normalKl } from './losses.js';
import type { BpdOptions, BpdResult, PMeanVarianceResult, VbTerms } from './types.js';

const LN2 = Math.log(2);

/**
 * One bound term from an already computed p(x_{t−1} | x_t): the KL to the true posterior for
 * t > 0, the decoder NLL at t = 0, in bits/dim.
 * @param diffusion the diffusion.
 * @param out pMeanVariance's result at (x_t, t).
 * @param xStart x_0 (B, C, H, W).
 * @param xT x_t (B, C, H, W).
 * @param t timesteps (B,).
 * @returns (B,) bits/dim.
 */
export function vbTermFromMeanVariance(diffusion: GaussianDiffusion, out: PMeanVarianceResult, xStart: Tensor, xT: Tensor, t: Tensor): Tensor {
  return torch.tidy(() => {
    const posterior = diffusion.qPosteriorMeanVariance(xStart, xT, t);
    const kl = meanFlat(normalKl(posterior.mean, posterior.logVariance, out.mean, out.logVariance)).div(LN2); // (B,)
    const decoderNll = meanFlat(discretizedGaussianLogLikelihood(xStart, out.mean, out.logVariance.mul(0.5)).neg()).div(LN2); // (B,)
    return torch.where(t.eq(0), decoderNll, kl); // (B,)
  });
}

/**
 * A term of the variational bound, in bits (not nats) per dimension, to compare with papers.
 * @param diffusion the diffusion.
 * @param model the model.
 * @param xStart x_0 (B, C, H, W).
 * @param xT x_t (B, C, H, W).
 * @param t timesteps (B,).
 * @param options clipDenoised (default true), modelKwargs.
 * @returns output (B,): the decoder NLL where t = 0, else the KL; and predXstart.
 */
export function vbTermsBpd(diffusion: GaussianDiffusion, model: ModelFn, xStart: Tensor, xT: Tensor, t: Tensor, options: BpdOptions = {}): VbTerms {
  return torch.tidy(() => {
    const out = diffusion.pMeanVariance(model, xT, t, { clipDenoised: options.clipDenoised ?? true, modelKwargs: options.modelKwargs });
    return { output: vbTermFromMeanVariance(diffusion, out, xStart, xT, t), predXstart: out.predXstart };
  });
}

/**
 * The prior term KL(q(x_T | x_0) ‖ N(0, I)) in bits/dim: it does not depend on the model, and is
 * near zero for a well-designed schedule.
 * @param xStart x_0 (B, C, H, W).
 * @returns (B,).
 */
export function priorBpd(diffusion: GaussianDiffusion, xStart: Tensor): Tensor {
  return torch.tidy(() => {
    const t = timestepBatch(xStart.shape[0]!, diffusion.numTimesteps - 1, xStart.device);
    const q = diffusion.qMeanVariance(xStart, t);
    return meanFlat(normalKl(q.mean, q.logVariance, 0, 0)).div(LN2); // (B,)
  });
}

/**
 * The whole variational bound of a batch, term by term, plus the x_0 and ε errors at each t
 * (improved-diffusion's calc_bpd_loop). Runs T model evaluations with grad off.
 * @param diffusion the diffusion.
 * @param model the model.
 * @param xStart x_0 (B, C, H, W), in [−1, 1].
 * @param options clipDenoised (default true), modelKwargs, generator (for the q(x_t | x_0) draws).
 * @returns totalBpd and priorBpd (B,), and vb, xstartMse, mse (B, T) with column 0 at t = T−1.
 */
export function calcBpdLoop(
  diffusion: GaussianDiffusion,
  model: ModelFn,
  xStart: Tensor,
  options: BpdOptions & { generator?: torch.Generator } = {},
): BpdResult {
  const B = xStart.shape[0]!;
  const columns: { vb: Tensor[]; xstartMse: Tensor[]; mse: Tensor[] } = { vb: [], xstartMse: [], mse: [] };
  try {
    for (let i = diffusion.numTimesteps - 1; i >= 0; i--) {
      const step = torch.noGrad(() => torch.tidy(() => {
        const t = timestepBatch(B, i, xStart.device);
        const noise = torch.randnLike(xStart, { generator: options.generator }); // (B, C, H, W)
        const xT = diffusion.qSample(xStart, t, noise);
        const out = vbTermsBpd(diffusion, model, xStart, xT, t, options);
        const eps = diffusion.predictEpsFromXstart(xT, t, out.predXstart);
        return { vb: out.output, xstartMse: meanFlat(out.predXstart.sub(xStart).square()), mse: meanFlat(eps.sub(noise).square()) };
      }));
      columns.vb.push(step.vb.keep());
      columns.xstartMse.push(step.xstartMse.keep());
      columns.mse.push(step.mse.keep());
    }
    return torch.tidy(() => {
      const vb = torch.stack(columns.vb, 1); // (B, T)
      const prior = priorBpd(diffusion, xStart); // (B,)
      return {
        totalBpd: vb.sum(1).add(prior),
        priorBpd: prior,
        vb,
        xstartMse: torch.stack(columns.xstartMse, 1),
        mse: torch.stack(columns.mse, 1),
      };
    });
  } finally {
    torch.dispose(columns);
  }
}
