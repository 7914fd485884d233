// A toy data distribution with a known optimal denoiser, for testing samplers without training:
// a mixture of isotropic Gaussians in 2-D, data shaped (N, 2, 1, 1) like images. For
// x_t = a x_0 + b ε (a = √ᾱ, b = √(1−ᾱ)) the posterior mean E[x_0 | x_t] is closed-form:
//   x_t | k ~ N(a μ_k, v_k I), v_k = a² s_k² + b²;  r_k(x_t) ∝ π_k N(x_t; a μ_k, v_k I);
//   E[x_0 | x_t, k] = μ_k + (a s_k² / v_k)(x_t − a μ_k);  E[x_0 | x_t] = Σ_k r_k E[x_0 | x_t, k].
// The schedules and the fractional-timestep rule are written here independently of src/.
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';
import { ModelMeanType, type ModelFn, type ModelKwargs } from '../src/diffusion/enums.js';

export interface Gmm {
  weights: number[];
  means: [number, number][];
  stds: number[];
}

/** Three components, total variance ≈ 0.5–0.7 per axis. */
export const GMM3: Gmm = {
  weights: [0.3, 0.3, 0.4],
  means: [[-1.0, -0.6], [1.0, -0.4], [0.1, 0.9]],
  stds: [0.3, 0.25, 0.35],
};

/** improved-diffusion's linear schedule (β from 1e-4 to 0.02, scaled by 1000/T), as ᾱ. */
export function linearAlphasCumprod(T: number): Float64Array {
  const scale = 1000 / T;
  const out = new Float64Array(T);
  let prod = 1;
  for (let i = 0; i < T; i++) {
    const beta = scale * 1e-4 + ((scale * 0.02 - scale * 1e-4) * i) / (T - 1);
    prod *= 1 - beta;
    out[i] = prod;
  }
  return out;
}

/** Nichol & Dhariwal's cosine schedule (s = 0.008, β ≤ 0.999), as ᾱ. */
export function cosineAlphasCumprod(T: number): Float64Array {
  const f = (t: number): number => Math.cos(((t / T + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
  const out = new Float64Array(T);
  let prod = 1;
  for (let i = 0; i < T; i++) {
    prod *= 1 - Math.min(1 - f(i + 1) / f(i), 0.999);
    out[i] = prod;
  }
  return out;
}

/** ᾱ at a fractional timestep: log σ interpolated linearly, σ = √((1−ᾱ)/ᾱ). */
export function alphaBarAt(ac: Float64Array, t: number): number {
  const low = Math.min(Math.max(Math.floor(t), 0), ac.length - 2);
  const w = t - low;
  const logSigma = (i: number): number => 0.5 * Math.log((1 - ac[i]!) / ac[i]!);
  const sigma = Math.exp((1 - w) * logSigma(low) + w * logSigma(low + 1));
  return 1 / (1 + sigma * sigma);
}

/** Per-component log-likelihood terms log π_k + log N(x; a μ_k, v_k I), (N, K) float64. */
function componentLogits(g: Gmm, x: Tensor, a: number, b: number, only?: number[]): Tensor {
  return torch.tidy(() => {
    const cols = g.weights.map((w, k) => {
      const v = a * a * g.stds[k]! ** 2 + b * b;
      const mu = torch.tensor([g.means[k]![0] * a, g.means[k]![1] * a], { dtype: 'float64' }); // (2,)
      const d2 = x.sub(mu).square().sum(1); // (N,)
      const keep = only === undefined || only.includes(k);
      return d2.mul(-0.5 / v).add(Math.log(w) - Math.log(v) - (keep ? 0 : 1e30)); // (N,)
    });
    return torch.stack(cols, 1); // (N, K)
  });
}

/** E[x_0 | x_t] for x (N, 2) float64, restricted to some components when `only` is given. */
export function posteriorMean(g: Gmm, x: Tensor, a: number, b: number, only?: number[]): Tensor {
  return torch.tidy(() => {
    const r = componentLogits(g, x, a, b, only).softmax(1); // (N, K)
    const terms = g.weights.map((_, k) => {
      const v = a * a * g.stds[k]! ** 2 + b * b;
      const mu = torch.tensor(g.means[k]!, { dtype: 'float64' }); // (2,)
      const mk = x.sub(mu.mul(a)).mul((a * g.stds[k]! ** 2) / v).add(mu); // (N, 2)
      return mk.mul(r.select(1, k).unsqueeze(1)); // (N, 2)
    });
    return terms.reduce((acc, t) => acc.add(t)); // (N, 2)
  });
}

/** log p(class | x_t) for classes given as component lists: (N, numClasses) float64. */
export function classLogPosterior(g: Gmm, x: Tensor, a: number, b: number, classes: number[][]): Tensor {
  return torch.tidy(() => {
    const logits = componentLogits(g, x, a, b); // (N, K)
    const total = logits.logsumexp(1, true); // (N, 1)
    const perClass = classes.map((ks) => logits.indexSelect(1, torch.tensor(ks, { dtype: 'int64' })).logsumexp(1)); // (N,) each
    return torch.stack(perClass, 1).sub(total); // (N, C)
  });
}

export interface ToyOptions {
  /** The model sees t · 1000 / T. */
  rescale?: boolean;
  /** Output 2C channels, the extra ones filled with `varFill` (LEARNED_RANGE v). */
  learnedSigma?: boolean;
  varFill?: number;
  /** Called with the batch size on every model call. */
  onCall?: (batch: number) => void;
  /** Class-conditional: labels y select a component list; y = classes.length means unconditional. */
  classes?: number[][];
}

/** ᾱ and a, b for the timestep tensor a model receives. */
export function levelOf(ac: Float64Array, t: Tensor, rescale: boolean): { alphaBar: number; a: number; b: number } {
  const tv = t.data()[0] as number;
  const alphaBar = alphaBarAt(ac, rescale ? (tv * ac.length) / 1000 : tv);
  return { alphaBar, a: Math.sqrt(alphaBar), b: Math.sqrt(1 - alphaBar) };
}

/** The exact ε-, x_0-, v- or x_{t−1}-predicting model of a GMM. */
export function toyModel(g: Gmm, ac: Float64Array, meanType: ModelMeanType, opts: ToyOptions = {}): ModelFn {
  return (x: Tensor, t: Tensor, kwargs: ModelKwargs): Tensor =>
    torch.tidy(() => {
      opts.onCall?.(x.size(0));
      const { a, b } = levelOf(ac, t, opts.rescale ?? false);
      const xf = x.reshape([-1, 2]).double(); // (N, 2)
      let x0 = posteriorMean(g, xf, a, b); // (N, 2)
      if (opts.classes !== undefined) {
        const y = kwargs.y!;
        for (let c = 0; c < opts.classes.length; c++) {
          const mask = y.eq(c).unsqueeze(1); // (N, 1)
          x0 = torch.where(mask, posteriorMean(g, xf, a, b, opts.classes[c]), x0); // (N, 2)
        }
      }
      const eps = xf.sub(x0.mul(a)).div(b); // (N, 2)
      let out: Tensor;
      if (meanType === ModelMeanType.EPSILON) out = eps;
      else if (meanType === ModelMeanType.START_X) out = x0;
      else if (meanType === ModelMeanType.VELOCITY) out = eps.mul(a).sub(x0.mul(b));
      else {
        // PREVIOUS_X: the posterior mean of the full chain at x̂_0 (Ho et al. eq. 7).
        const T = ac.length;
        const tIdx = Math.round(opts.rescale === true ? ((t.data()[0] as number) * T) / 1000 : (t.data()[0] as number));
        const abPrev = tIdx > 0 ? ac[tIdx - 1]! : 1;
        const beta = 1 - ac[tIdx]! / abPrev;
        const c1 = (beta * Math.sqrt(abPrev)) / (1 - ac[tIdx]!);
        const c2 = ((1 - abPrev) * Math.sqrt(1 - beta)) / (1 - ac[tIdx]!);
        out = x0.mul(c1).add(xf.mul(c2));
      }
      const shaped = out.float().reshape(x.shape); // (N, 2, 1, 1)
      if (opts.learnedSigma !== true) return shaped;
      return torch.cat([shaped, torch.fullLike(shaped, opts.varFill ?? 0)], 1); // (N, 4, 1, 1)
    });
}

/** N draws from the GMM, shaped (N, 2, 1, 1), from a seeded generator. */
export function gmmSample(g: Gmm, n: number, seed: number, only?: number[]): Tensor {
  return torch.tidy(() => {
    const gen = new torch.Generator({ seed });
    const w = g.weights.map((p, k) => (only === undefined || only.includes(k) ? p : 0));
    const k = torch.multinomial(torch.tensor(w, { dtype: 'float64' }), n, true, gen); // (N,)
    const means = torch.tensor(g.means.flat(), { dtype: 'float64', shape: [g.weights.length, 2] }); // (K, 2)
    const stds = torch.tensor(g.stds, { dtype: 'float64' }); // (K,)
    const z = torch.randn([n, 2], { dtype: 'float64', generator: gen }); // (N, 2)
    return means.indexSelect(0, k).add(z.mul(stds.indexSelect(0, k).unsqueeze(1))).float().reshape([n, 2, 1, 1]);
  });
}

/** Mean (2) and covariance (2×2) of the GMM, or of one class's components. */
export function gmmMoments(g: Gmm, only?: number[]): { mean: number[]; cov: number[][] } {
  const ks = g.weights.map((_, k) => k).filter((k) => only === undefined || only.includes(k));
  const z = ks.reduce((s, k) => s + g.weights[k]!, 0);
  const mean = [0, 1].map((d) => ks.reduce((s, k) => s + (g.weights[k]! / z) * g.means[k]![d]!, 0));
  const cov = [0, 1].map((i) =>
    [0, 1].map((j) =>
      ks.reduce((s, k) => s + (g.weights[k]! / z) * ((i === j ? g.stds[k]! ** 2 : 0) + g.means[k]![i]! * g.means[k]![j]!), 0) -
      mean[i]! * mean[j]!,
    ),
  );
  return { mean, cov };
}

/** Sample mean and covariance of (N, 2, 1, 1) points. */
export function sampleMoments(x: Tensor): { mean: number[]; cov: number[][] } {
  const d = torch.tidy(() => x.reshape([-1, 2]).double().data() as Float64Array);
  const n = d.length / 2;
  const mean = [0, 1].map((j) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += d[2 * i + j]!;
    return s / n;
  });
  const cov = [0, 1].map((p) =>
    [0, 1].map((q) => {
      let s = 0;
      for (let i = 0; i < n; i++) s += (d[2 * i + p]! - mean[p]!) * (d[2 * i + q]! - mean[q]!);
      return s / (n - 1);
    }),
  );
  return { mean, cov };
}

/** Largest absolute difference in mean and in covariance entries. */
export function momentError(x: Tensor, g: Gmm, only?: number[]): { mean: number; cov: number } {
  const s = sampleMoments(x);
  const t = gmmMoments(g, only);
  const mean = Math.max(...[0, 1].map((i) => Math.abs(s.mean[i]! - t.mean[i]!)));
  const cov = Math.max(...[0, 1].flatMap((i) => [0, 1].map((j) => Math.abs(s.cov[i]![j]! - t.cov[i]![j]!))));
  return { mean, cov };
}

/**
 * Sliced Wasserstein-1 distance between two equal-size point sets (N, 2, 1, 1): the mean over
 * `numDirections` evenly spaced directions of the 1-D W1 between sorted projections.
 */
export function slicedWasserstein(x: Tensor, y: Tensor, numDirections = 32): number {
  return torch.tidy(() => {
    const angles = Array.from({ length: numDirections }, (_, i) => (Math.PI * i) / numDirections);
    const dirs = torch.tensor(angles.flatMap((t) => [Math.cos(t), Math.sin(t)]), { dtype: 'float64', shape: [numDirections, 2] }); // (D, 2)
    const px = x.reshape([-1, 2]).double().matmul(dirs.t()).sort(0)[0]; // (N, D)
    const py = y.reshape([-1, 2]).double().matmul(dirs.t()).sort(0)[0]; // (N, D)
    return px.sub(py).abs().mean().item();
  });
}
