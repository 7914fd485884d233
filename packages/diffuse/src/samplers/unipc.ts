// UniPC (Zhao et al. 2023, "UniPC: A Unified Predictor-Corrector Framework for Fast Sampling of
// Diffusion Models"), data-prediction form, multistep: every step's one model evaluation serves
// twice — first in the corrector UniC-p, which refines the state the model was just asked at
// (Algorithm 2), then as the newest point of the predictor UniP-p that takes the next step
// (Algorithm 1); the corrector raises the order of accuracy from p to p + 1 (Theorem 3.1).
// On the VE state x = x_t/α_t, λ = −log σ, h = λ_t − λ_{s0}, with the previous predictions m_k at
// λ_{s_k}, r_k = (λ_{s_k} − λ_{s0})/h and D_k = (m_k − m0)/r_k (eq. 8, signs for data prediction):
//   x_t = (σ_t/σ_{s0}) x_{s0} + (1 − e^{−h}) m0 − B(h) Σ_k a_k D_k
// where the a_k solve R a = b: R_{jk} = r_k^{j−1}, b_j = φ_j(−h) j! / B(h) (Algorithm 1, with
// φ_1 = e^{−h} − 1 over −h minus 1 and φ_{j+1} = φ_j/(−h) − 1/(j+1)!, the recursion of the
// official code), and B(h) = −h ("bh1") or e^{−h} − 1 ("bh2"). The predictor at p = 2 uses a_1 = 1/2
// (the paper's choice); the corrector adds the new evaluation m_t as r = 1, D_t = m_t − m0.
// The first steps warm up with the orders the history allows; the step into σ = 0 returns x_θ.
// The predictor alone (disableCorrector) with bh2 is DPM-Solver++(2M) at p = 2 and (3M) at p = 3.
import type { Tensor } from '@diffuse/torch';
import type { SamplerContext, SamplerRun, StepResult } from './types.js';
import { DenoisedHistory, lambdas, veRun, veSetup, type VeOptions } from './ve-run.js';

/** The B(h) of UniPC: bh1 = −h (recommended for unguided sampling at few steps), bh2 = e^{−h} − 1. */
export type UniPcVariant = 'bh1' | 'bh2';

/** UniPC options. */
export interface UniPcOptions extends VeOptions {
  /** B(h) (default 'bh2'). */
  variant?: UniPcVariant;
  /** The order p of the predictor, 1–3 (default 2; with the corrector the update is order p + 1). */
  order?: number;
  /** Skip the corrector (UniP alone, the order-p multistep predictor). */
  disableCorrector?: boolean;
}

/** Solves the small system R a = b (Gaussian elimination with partial pivoting). */
function solve(R: number[][], b: number[]): number[] {
  const n = b.length;
  const A = R.map((row, i) => [...row.slice(0, n), b[i]!]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(A[r]![c]!) > Math.abs(A[p]![c]!)) p = r;
    [A[c], A[p]] = [A[p]!, A[c]!];
    for (let r = c + 1; r < n; r++) {
      const f = A[r]![c]! / A[c]![c]!;
      for (let k = c; k <= n; k++) A[r]![k]! -= f * A[c]![k]!;
    }
  }
  const a = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = A[r]![n]!;
    for (let k = r + 1; k < n; k++) s -= A[r]![k]! * a[k]!;
    a[r] = s / A[r]![r]!;
  }
  return a;
}

/** The r_k, B(h) and right-hand side b_1..b_p of one UniP/UniC update over h. */
function coefficients(h: number, rks: number[], p: number, variant: UniPcVariant): { R: number[][]; b: number[]; Bh: number } {
  const hh = -h; // data prediction integrates e^{−h}
  const hPhi1 = Math.expm1(hh);
  const Bh = variant === 'bh1' ? hh : hPhi1;
  let hPhiK = hPhi1 / hh - 1;
  let factorial = 1;
  const R: number[][] = [];
  const b: number[] = [];
  for (let j = 1; j <= p; j++) {
    R.push(rks.map((r) => r ** (j - 1)));
    b.push((hPhiK * factorial) / Bh);
    factorial *= j + 1;
    hPhiK = hPhiK / hh - 1 / factorial;
  }
  return { R, b, Bh };
}

/**
 * Prepares UniPC sampling.
 * @param ctx the model, kwargs and optional classifier guidance (condition_score).
 * @param options steps (default 10), variant, order, grid (default 'logsnr'), clamp, final step.
 * @returns a run of N steps (N model evaluations) from x_T = z to x_0.
 */
export function uniPc(ctx: SamplerContext, options: UniPcOptions = {}): SamplerRun {
  const order = options.order ?? 2;
  if (![1, 2, 3].includes(order)) throw new RangeError(`UniPC: order must be 1, 2 or 3, got ${order}`);
  const variant = options.variant ?? 'bh2';
  if (variant !== 'bh1' && variant !== 'bh2') throw new RangeError(`UniPC: variant must be 'bh1' or 'bh2', got '${String(variant)}'`);
  const { sigmas, denoise } = veSetup(ctx, options, { steps: 10, spacing: 'logsnr' });
  const lambda = lambdas(sigmas);
  const history = new DenoisedHistory(order); // m0 (newest) … m_{p−1}
  let lastSample: Tensor | null = null; // x_{s0}, where the last predictor started
  let lastOrder = 1; // the p of the last predictor step, the corrector's order

  /**
   * x_t from x_{s0} = x at λ_{s0} = history.get(0): the predictor (mT null) or the corrector
   * with the new evaluation mT at λ_t.
   */
  const update = (x: Tensor, sigmaS0: number, sigmaT: number, p: number, mT: Tensor | null): Tensor => {
    const { denoised: m0, lambda: lambdaS0 } = history.get(0);
    const h = -Math.log(sigmaT) - lambdaS0;
    // 1. r_k and D_k from the older predictions (k = 1..p−1), then r_p = 1 for the new point.
    const rks: number[] = [];
    const D: Tensor[] = [];
    for (let k = 1; k < p; k++) {
      const { denoised: mk, lambda: lambdaK } = history.get(k);
      const rk = (lambdaK - lambdaS0) / h;
      rks.push(rk);
      D.push(mk.sub(m0).div(rk)); // (B, C, H, W)
    }
    rks.push(1);
    // 2. R a = b (Algorithm 1 line 6 / Algorithm 2 line 4).
    const { R, b, Bh } = coefficients(h, rks, p, variant);
    let a: number[];
    if (mT === null) a = p === 1 ? [] : p === 2 ? [0.5] : solve(R.slice(0, p - 1).map((row) => row.slice(0, p - 1)), b.slice(0, p - 1));
    else {
      a = p === 1 ? [0.5] : solve(R, b);
      D.push(mT.sub(m0)); // D_t with r = 1 (B, C, H, W)
    }
    // 3. x_t = (σ_t/σ_{s0}) x_{s0} + (1 − e^{−h}) m0 − B(h) Σ a_k D_k.
    let out = x.mul(sigmaT / sigmaS0).add(m0.mul(-Math.expm1(-h))); // (B, C, H, W)
    a.forEach((ak, k) => {
      out = out.sub(D[k]!.mul(Bh * ak)); // (B, C, H, W)
    });
    return out;
  };

  return veRun(
    sigmas,
    (i: number, x: Tensor): StepResult => {
      // 1. The step's one model evaluation, at the predicted x_i.
      const mI = denoise(x, sigmas[i]!); // (B, C, H, W)
      // 2. UniC: correct x_i from x_{i−1} with mI as the new point (unused before σ = 0).
      let xc = x;
      if (lastSample !== null && options.disableCorrector !== true && sigmas[i + 1] !== 0) {
        xc = update(lastSample, sigmas[i - 1]!, sigmas[i]!, lastOrder, mI); // (B, C, H, W)
      }
      history.push(mI, lambda[i]!);
      if (sigmas[i + 1] === 0) return { x: mI.clone(), x0: mI };
      // 3. UniP: predict x_{i+1} from the corrected x_i with the orders the history allows.
      const p = Math.min(order, history.length);
      const next = update(xc, sigmas[i]!, sigmas[i + 1]!, p, null); // (B, C, H, W)
      lastSample?.dispose();
      lastSample = xc.detach().keep();
      lastOrder = p;
      return { x: next, x0: mI };
    },
    () => {
      history.dispose();
      lastSample?.dispose();
      lastSample = null;
    },
  );
}
