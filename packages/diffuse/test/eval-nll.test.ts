// The NLL bound (bits/dim): a model that knows the one image of its data set has a bound with a
// closed form (all KL terms zero; prior and decoder terms analytic), and a tiny UNet gives finite
// parts that add up to the total.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as torch from '@diffuse/torch';
import { calcNll, createModel, GaussianDiffusion, LossType, ModelMeanType, ModelVarType, U8ArrayDataset, unetAsModelFn } from '../src/index.js';

const SIDE = 6;
// Tensors of a few hundred numbers: a second intra-op thread only adds synchronisation, which
// costs up to 100× (measured) when other processes hold the cores.
torch.setNumThreads(1);

/** One 6×6 gray image with black, white and in-between pixels, repeated n times. */
function repeatedImage(n: number, labels = false): U8ArrayDataset {
  const one = Uint8Array.from({ length: SIDE * SIDE }, (_, i) => (i % 5 === 0 ? 0 : i % 7 === 0 ? 255 : (i * 37) % 256));
  const images = new Uint8Array(n * one.length);
  for (let k = 0; k < n; k++) images.set(one, k * one.length);
  return new U8ArrayDataset({ images, n, height: SIDE, width: SIDE, channels: 1, labels: labels ? new Int32Array(n) : undefined, numClasses: labels ? 2 : undefined });
}

const BETAS = [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7];

/** improved-diffusion's tanh approximation of the standard normal CDF. */
const cdf = (x: number): number => 0.5 * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));

test('NLL of an exact x_0 predictor: every KL term is 0, prior and decoder follow their closed forms', async () => {
  const data = repeatedImage(5);
  const x0 = Array.from(data.get(0).image); // 36 values in [−1, 1]
  const diffusion = new GaussianDiffusion({ betas: BETAS, modelMeanType: ModelMeanType.START_X, modelVarType: ModelVarType.FIXED_SMALL, lossType: LossType.MSE });
  const x0Tensor = torch.tensor(Float32Array.from(x0), { shape: [1, 1, SIDE, SIDE] }).keep();
  // It predicts x_0 = the data's only image whatever x_t is: the posterior mean exactly.
  const model = (x: torch.Tensor): torch.Tensor => x0Tensor.expand(x.shape);
  let calls = 0;
  const r = await calcNll(diffusion, model, data, { batchSize: 2, progress: (done, total) => ((calls = done), assert.equal(total, 3 * BETAS.length)) });
  x0Tensor.dispose();
  assert.equal(calls, 3 * BETAS.length); // 3 batches (2 + 2 + 1) × T evaluations
  assert.equal(r.n, 5);
  assert.equal(r.T, 8);
  for (const q of r.vbQuartiles) assert.ok(Math.abs(q) < 1e-5, `KL terms should vanish: ${r.vbQuartiles}`);
  // Prior: KL(N(√ᾱ_T x0, 1 − ᾱ_T) ‖ N(0, 1)) per pixel, averaged, in bits.
  const alphaBar = BETAS.reduce((a, b) => a * (1 - b), 1);
  const prior = x0.reduce((s, v) => s + 0.5 * (-1 - Math.log(1 - alphaBar) + (1 - alphaBar) + alphaBar * v * v), 0) / x0.length / Math.LN2;
  // Decoder: p(x_0 | x_1) = N(x_0, β̃_1) discretised into 256 bins of width 2/255 (edge bins open).
  const bar0 = 1 - BETAS[0]!;
  const betaTilde1 = (BETAS[1]! * (1 - bar0)) / (1 - bar0 * (1 - BETAS[1]!));
  const s = 1 / 255 / Math.sqrt(betaTilde1);
  const decoder = x0.reduce((sum, v) => sum - Math.log(Math.abs(v) > 0.999 ? cdf(s) : cdf(s) - cdf(-s)), 0) / x0.length / Math.LN2;
  assert.ok(Math.abs(r.prior - prior) < 1e-5 * prior, `prior ${r.prior} vs ${prior}`);
  assert.ok(Math.abs(r.decoder - decoder) < 1e-4 * decoder, `decoder ${r.decoder} vs ${decoder}`);
  assert.ok(Math.abs(r.bpd - (prior + decoder)) < 1e-4 * r.bpd);
  // Identical images: identical bounds, whatever noise each drew.
  for (const v of r.perImage) assert.ok(Math.abs(v - r.bpd) < 1e-4 * r.bpd);
});

test('NLL of a tiny UNet (T = 8, learned range σ, class-conditional): finite parts that add up to the total', async () => {
  torch.manualSeed(0);
  const unet = createModel({ imageSize: SIDE, inChannels: 1, modelChannels: 8, numResBlocks: 1, channelMult: [1], attentionResolutions: [], learnSigma: true, numClasses: 2, nullClass: true }, new torch.Generator({ seed: 1 }));
  unet.eval();
  const diffusion = new GaussianDiffusion({ betas: BETAS, modelMeanType: ModelMeanType.EPSILON, modelVarType: ModelVarType.LEARNED_RANGE, lossType: LossType.RESCALED_MSE });
  for (const labels of [true, false]) {
    const r = await calcNll(diffusion, unetAsModelFn(unet), repeatedImage(4, labels), { batchSize: 3, numClasses: 2, n: 3 });
    const parts = r.prior + r.decoder + r.vbQuartiles.reduce((a, v) => a + v, 0);
    assert.ok([r.bpd, r.prior, r.decoder, ...r.vbQuartiles, r.mse, r.xstartMse].every(Number.isFinite), JSON.stringify(r));
    assert.ok(r.bpd > 0 && r.decoder > 0 && r.vbQuartiles.every((q) => q >= 0), JSON.stringify(r));
    assert.ok(Math.abs(parts - r.bpd) < 1e-5 * r.bpd, `parts ${parts} vs total ${r.bpd}`);
    assert.equal(r.perImage.length, 3);
    assert.ok(Math.abs(r.perImage.reduce((a, v) => a + v, 0) / 3 - r.bpd) < 1e-9 * r.bpd);
  }
  torch.dispose(unet.parameters());
});
