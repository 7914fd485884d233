// The editing tools on the shipped digits-cpu model (float32, few steps, a handful of digits):
// SDEdit's strength, inpainting keeping the known pixels, the inversion round trip, interpolation.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as torch from '@diffuse/torch';
import { nn, type Tensor } from '@diffuse/torch';
import {
  alphasCumprodOf, DiscreteSigmas, getNamedBetaSchedule, ModelMeanType, ModelVarType, UNet, unetAsModelFn, inpaint, interpolate, invert, loadMnistDigits, loadPipeline, prepareSampler, reconstruct, roundTripMse, SAMPLERS, sdedit, slerp,
  strengthToSigma,
} from '../src/index.js';

// float32 everywhere: the bounds below should not depend on whether the CPU has bf16 kernels.
const pipe = loadPipeline('digits-cpu', { precision: 'fp32' });
const spec = { ...pipe.spec, clipDenoised: true };

/** The first n bundled digits in [−1, 1], (n, 1, 28, 28). */
function digits(n: number, offset = 0): Tensor {
  const { images } = loadMnistDigits();
  const bytes = images.subarray(offset * 784, (offset + n) * 784);
  return torch.tidy(() => torch.tensor(Float32Array.from(bytes, (v) => v / 127.5 - 1), { shape: [n, 1, 28, 28] })).keep();
}
const mse = (a: Tensor, b: Tensor): number => torch.tidy(() => a.sub(b).square().mean().item());

test('every sampler starts a run clamped at σ(t₀) exactly there, and ends at σ = 0', () => {
  const sched = new DiscreteSigmas(spec.alphasCumprod);
  const sigma = strengthToSigma(sched.sigmas, 0.3);
  assert.equal(sigma, sched.sigmas[300]); // t₀ = round(0.3 · 999)
  for (const sampler of SAMPLERS) {
    const run = prepareSampler(spec, { sampler, steps: 5, sigmaMax: sigma });
    // Exact for timestep and log-SNR grids; the Karras grid goes through (σ^{1/ρ})^ρ: float64 rounding.
    assert.ok(Math.abs(run.sigmaAt(0) - sigma) <= 1e-12 * sigma, `${sampler}: starts at ${run.sigmaAt(0)}`);
    assert.equal(run.sigmaAt(run.total), 0, sampler);
    for (let i = 1; i <= run.total; i++) assert.ok(run.sigmaAt(i) < run.sigmaAt(i - 1), `${sampler}: levels decrease`);
    run.dispose();
  }
});

test('SDEdit: strength 0 returns the input; the output moves away from the input as the strength grows', () => {
  const x = digits(4);
  const same = sdedit(spec, x, { sampler: 'ddim', strength: 0 });
  assert.equal(mse(same, x), 0);
  const dists = [0.2, 0.5, 1].map((strength) => {
    const g = new torch.Generator({ seed: 1 });
    const y = sdedit(spec, x, { sampler: 'ddim', steps: 8, strength, generator: g });
    const d = mse(y, x);
    y.dispose();
    return d;
  });
  // Measured (fp32): about 0.01, 0.05, 0.45. Digits at s = 1 are new ones; at 0.2 the input's.
  assert.ok(dists[0]! < 0.05 && dists[0]! < dists[1]! && dists[1]! < dists[2]!, `distances ${dists.join(', ')}`);
  // Any sampler: a σ-grid solver from the same level.
  const y = sdedit(spec, x, { sampler: 'dpmpp-2m', steps: 6, strength: 0.3, generator: new torch.Generator({ seed: 1 }) });
  assert.ok(mse(y, x) < 0.1);
  assert.throws(() => sdedit(spec, x, { sampler: 'ddim', strength: 1.5 }), /strength must be in \[0, 1\]/);
  torch.dispose([x, same, y]);
});

test('inpainting keeps the known pixels (exactly after a final denoise, within σ_lo without) and fills the hole', () => {
  const x = digits(2);
  const mask = torch.zeros([1, 1, 28, 28]);
  mask.narrow(2, 8, 12).narrow(3, 8, 12).fill_(1); // a 12×12 hole in the middle
  const known = mask.rsub(1);
  const out = inpaint(spec, x, { sampler: 'ddim', steps: 8, mask, generator: new torch.Generator({ seed: 2 }) });
  // The last replacement is at σ = 0: the original itself, by construction.
  assert.equal(torch.tidy(() => out.sub(x).mul(known).abs().max().item()), 0);
  assert.ok(torch.tidy(() => out.sub(x).mul(mask).abs().max().item()) > 0.05, 'the hole was not regenerated');
  // Stopping at σ_lo keeps the known pixels within that level's noise (|z| < 6 at 1,568 pixels).
  const sigmaMin = 0.05;
  const noisy = inpaint(spec, x, { sampler: 'dpmpp-2m', steps: 6, mask, sigmaMin, denoiseFinal: false, generator: new torch.Generator({ seed: 2 }) });
  const err = torch.tidy(() => noisy.sub(x.div(Math.sqrt(1 + sigmaMin ** 2))).mul(known).abs().max().item());
  assert.ok(err < 6 * sigmaMin, `known pixels off by ${err}`);
  // RePaint's resampling jumps (ddpm): still exact on the known pixels.
  const repaint = inpaint(spec, x, { sampler: 'ddpm', steps: 6, mask, resample: { jumpLength: 2, resamples: 2 }, generator: new torch.Generator({ seed: 3 }) });
  assert.equal(torch.tidy(() => repaint.sub(x).mul(known).abs().max().item()), 0);
  assert.throws(() => inpaint(spec, x, { sampler: 'dpmpp-2m', mask, resample: { jumpLength: 2, resamples: 2 } }), /single-step sampler/);
  assert.throws(() => inpaint(spec, x, { sampler: 'ddim', mask: torch.zeros([1, 1, 14, 14]) }), /mask has shape/);
  torch.dispose([x, mask, known, out, noisy, repaint]);
});

test('DDIM inversion round trip: below a bound, and better with more steps', () => {
  const x = digits(3, 10);
  const mean = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length;
  const errs = [10, 40].map((steps) => mean(roundTripMse(spec, x, { steps })));
  // Measured (fp32, AMD Zen 5): mean MSE 0.23 at 10 steps, 0.083 at 40 (per image 0.04, 0.21,
  // 0.001: the second digit is a hard one; 0.005, 0.09, 0.0002 at 100 steps). Images span [−1, 1].
  assert.ok(errs[1]! < 0.15 && errs[1]! < errs[0]!, `round-trip MSE ${errs.join(', ')}`);
  // Below σ = 2 the cosine schedule's ill-conditioned top levels are skipped: measured 0.004 at 10 steps.
  const clamped = mean(roundTripMse(spec, x, { steps: 10, sigmaMax: 2 }));
  assert.ok(clamped < 0.02 && clamped < errs[0]!, `clamped round-trip MSE ${clamped}`);
  // invert() gives a noise-like x_T; reconstruct() undoes it as the round trip does.
  const xT = invert(spec, x, { steps: 10 });
  assert.ok(Math.abs(torch.tidy(() => xT.std().item()) - 1) < 0.3);
  const back = reconstruct(spec, xT, { steps: 10 });
  assert.ok(Math.abs(mse(back, x) - errs[0]!) < 1e-3);
  torch.dispose([x, xT, back]);
});

test('interpolation: the ends are the two reconstructions; slerp keeps the norm', () => {
  const x = digits(2, 20);
  const a = x.narrow(0, 0, 1);
  const b = x.narrow(0, 1, 1);
  const steps = 10;
  const recA = torch.tidy(() => reconstruct(spec, invert(spec, a, { steps }), { steps }));
  const recB = torch.tidy(() => reconstruct(spec, invert(spec, b, { steps }), { steps }));
  const strip = interpolate(spec, a, b, { n: 4, steps });
  assert.deepEqual(strip.shape, [4, 1, 28, 28]);
  // slerp at α = 0 and 1 returns an end exactly; a batch of 4 vs 1 may change kernels: float32 rounding.
  const ends = [mse(strip.narrow(0, 0, 1), recA), mse(strip.narrow(0, 3, 1), recB)];
  assert.ok(ends.every((e) => e < 1e-6), `ends ${ends.join(', ')}`);
  assert.ok(mse(strip.narrow(0, 1, 1), recA) > 1e-3, 'the in-betweens are not new images');
  // With attention interpolation (the model's processors are restored afterwards): at α = 0 the
  // keys and values are A's own, so the first image is A's reconstruction again.
  const before = [...pipe.model.attnProcessors.values()];
  const morph = interpolate(spec, a, b, { n: 3, steps, attention: pipe.model });
  assert.deepEqual([...pipe.model.attnProcessors.values()], before);
  assert.ok(mse(morph.narrow(0, 0, 1), recA) < 1e-6);
  const g = new torch.Generator({ seed: 5 });
  const u = torch.randn([1000], { generator: g });
  const v = torch.randn([1000], { generator: g });
  const mid = slerp(u, v, 0.5);
  assert.ok(Math.abs(torch.tidy(() => mid.norm().item() / u.norm().item()) - 1) < 0.1);
  torch.dispose([x, a, b, recA, recB, strip, morph, u, v, mid]);
});

test('class-conditional interpolation lerps the class embeddings (yWeights); one-hot weights are the label', () => {
  const g = new torch.Generator({ seed: 11 });
  const unet = new UNet({
    inChannels: 1, modelChannels: 8, outChannels: 1, numResBlocks: 1, channelMult: [1, 2], attentionResolutions: [2],
    numClasses: 3, nullClass: true, dropout: 0, generator: g,
  }).eval();
  torch.noGrad(() => { for (const p of unet.parameters()) nn.init.normal_(p, 0, 0.2, g); });
  const x = torch.randn([2, 1, 8, 8], { generator: g });
  const t = torch.full([2], 40);
  const byLabel = torch.noGrad(() => unet.forward(x, t, { y: torch.tensor(BigInt64Array.of(2n, 0n)) }));
  const weights = torch.tensor(Float32Array.of(0, 0, 1, 0, 1, 0, 0, 0), { shape: [2, 4] }); // rows: 3 classes + null
  const byWeights = torch.noGrad(() => unet.forward(x, t, { yWeights: weights }));
  // A one-hot matmul adds exact zeros to the embedding row: equal up to float32 rounding.
  assert.ok(torch.tidy(() => byLabel.sub(byWeights).abs().max().item()) <= 1e-6);
  const small = { model: unetAsModelFn(unet), alphasCumprod: alphasCumprodOf(getNamedBetaSchedule('linear', 100)),
    meanType: ModelMeanType.EPSILON, varType: ModelVarType.FIXED_SMALL, rescaleTimesteps: false };
  const a = x.narrow(0, 0, 1);
  const b = x.narrow(0, 1, 1);
  const strip = interpolate(small, a, b, { n: 3, steps: 5, classes: { a: 0, b: 2, count: 4 }, attention: unet });
  const end = torch.tidy(() => reconstruct(small, invert(small, b, { steps: 5, modelKwargs: { y: torch.tensor(BigInt64Array.of(2n)) } }),
    { steps: 5, modelKwargs: { y: torch.tensor(BigInt64Array.of(2n)) } }));
  assert.ok(torch.tidy(() => strip.narrow(0, 2, 1).sub(end).abs().max().item()) <= 1e-4 * Math.max(1, torch.tidy(() => end.abs().max().item())));
  torch.dispose([x, t, byLabel, weights, byWeights, strip, end]);
});
