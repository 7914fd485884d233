// Negative log-likelihood in bits/dim through the full variational bound (improved-diffusion's
// image_nll.py / run_bpd_evaluation): every image costs T model evaluations, one per term
//   L = L_T (prior) + Σ_{t=1}^{T−1} L_t (KL terms) + L_0 (decoder NLL).
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';

import type { AnyImageDataset } from '../data/dataset.js';
import { BatchLoader } from '../data/loader.js';
import type { ModelFn } from '../diffusion/enums.js';
import type { GaussianDiffusion } from '../diffusion/gaussian-diffusion.js';

export interface NllOptions {
  /** Evaluate the first n images (default all). */
  n?: number;
  /** Images per batch (default 32). */
  batchSize?: number;
  /** Clamp predicted x_0 to [−1, 1] (default true, as image_nll.py). */
  clipDenoised?: boolean;
  /** Seed of the q(x_t | x_0) noise draws (default 0). */
  seed?: number;
  /**
   * Class conditioning: for class-conditional models, the number of classes. Labels come from
   * the data; unlabeled data uses the null class numClasses (the unconditional mode).
   */
  numClasses?: number;
  /** Called after each model evaluation with (evaluations done, total). */
  progress?: (done: number, total: number) => void;
}

/** The bound, averaged over images, in bits/dim. total = prior + decoder + Σ vbQuartiles. */
export interface NllResult {
  /** Images evaluated. */
  n: number;
  /** Diffusion steps T. */
  T: number;
  /** Mean total bits/dim (the NLL bound). */
  bpd: number;
  /** Its standard error over images. */
  bpdStderr: number;
  /** L_T = KL(q(x_T | x_0) ‖ N(0, I)). */
  prior: number;
  /** L_0, the discretized decoder NLL at t = 0. */
  decoder: number;
  /** Σ of the KL terms L_t (t ≥ 1) whose t falls in each quarter of [0, T): q = ⌊4t / T⌋. */
  vbQuartiles: [number, number, number, number];
  /** Mean squared error of the x_0 and ε predictions over all t. */
  xstartMse: number;
  mse: number;
  /** Each image's total bits/dim. */
  perImage: number[];
}

/** The model, counting its evaluations for progress. */
function counted(model: ModelFn, tick: () => void): ModelFn {
  return (x, t, kwargs) => {
    const out = model(x, t, kwargs);
    tick();
    return out;
  };
}

function labelsFor(y: Tensor, numClasses: number | undefined, datasetClasses: number): Tensor | undefined {
  if (!numClasses) return undefined;
  if (datasetClasses > 0) return y.clone();
  return torch.fullLike(y, numClasses); // the null class: the model's unconditional mode
}

/**
 * The NLL bound of images under a diffusion model, with improved-diffusion's breakdown.
 * @param diffusion the (unspaced) diffusion the model was trained with.
 * @param model the model as the diffusion calls it.
 * @param images a dataset in the model's format (values in [−1, 1]: v / 127.5 − 1, as training).
 * @param options n, batchSize, clipDenoised, seed, numClasses, progress.
 */
export async function calcNll(diffusion: GaussianDiffusion, model: ModelFn, images: AnyImageDataset, options: NllOptions = {}): Promise<NllResult> {
  const n = Math.min(options.n ?? images.length, images.length);
  if (!(n >= 1)) throw new RangeError(`calcNll: need at least one image, got n = ${options.n}`);
  const T = diffusion.numTimesteps;
  const batchSize = Math.max(1, Math.min(options.batchSize ?? 32, n));
  const batches = Math.ceil(n / batchSize);
  let done = 0;
  const fn = counted(model, () => options.progress?.(++done, batches * T));
  const generator = new torch.Generator({ seed: options.seed ?? 0 });
  const sums = { prior: 0, decoder: 0, quartiles: [0, 0, 0, 0] as [number, number, number, number], xstartMse: 0, mse: 0 };
  const perImage: number[] = [];
  // Column j of the bound holds t = T − 1 − j; the decoder term is the last column.
  const quartileOf = Array.from({ length: T }, (_, j) => Math.floor((4 * (T - 1 - j)) / T));
  const loader = new BatchLoader(images, { batchSize, shuffle: false, dropLast: false });
  try {
    for (let k = 0; k < batches; k++) {
      const batch = await loader.next();
      const count = Math.min(batch.indices.length, n - k * batchSize);
      torch.tidy(() => {
        const x = batch.x.narrow(0, 0, count); // (b, C, H, W)
        const y = labelsFor(batch.y.narrow(0, 0, count), options.numClasses, images.numClasses);
        const r = diffusion.calcBpdLoop(fn, x, { clipDenoised: options.clipDenoised ?? true, modelKwargs: y ? { y } : {}, generator });
        perImage.push(...r.totalBpd.toArray());
        sums.prior += r.priorBpd.sum().item();
        const vb = r.vb.sum(0).toArray(); // (T,) summed over images
        vb.forEach((v, j) => {
          if (j === T - 1) sums.decoder += v;
          else sums.quartiles[quartileOf[j]!] += v;
        });
        sums.xstartMse += r.xstartMse.mean(1).sum().item();
        sums.mse += r.mse.mean(1).sum().item();
      });
      torch.dispose([batch.x, batch.y]);
    }
  } finally {
    await loader.close();
  }
  const bpd = perImage.reduce((a, v) => a + v, 0) / n;
  const variance = n > 1 ? perImage.reduce((a, v) => a + (v - bpd) ** 2, 0) / (n - 1) : NaN;
  return {
    n,
    T,
    bpd,
    bpdStderr: Math.sqrt(variance / n),
    prior: sums.prior / n,
    decoder: sums.decoder / n,
    vbQuartiles: sums.quartiles.map((s) => s / n) as [number, number, number, number],
    xstartMse: sums.xstartMse / n,
    mse: sums.mse / n,
    perImage,
  };
}
