// GaussianDiffusion against the float64 reference (golden/diffusion.py): q, p_mean_variance and
// the VB term for every mean × variance type, training losses for every loss type too, single
// sampling steps, and whole loops with the same seeded generator.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';
import {
  GaussianDiffusion, getNamedBetaSchedule, LossType, ModelMeanType, ModelVarType, rescaleZeroTerminalSnr,
} from '../src/index.js';
import { assertClose, f64, fakeModel, golden, i64 } from './diffusion-helpers.js';

const g = golden();
const shape = g.inputs.shape;
const T = g.inputs.T;
const betas = getNamedBetaSchedule('linear', T);
const learned = (vt: string): boolean => vt === ModelVarType.LEARNED || vt === ModelVarType.LEARNED_RANGE;

function diffusion(meanType: string, varType: string, lossType: string = LossType.MSE, minSnrGamma?: number): GaussianDiffusion {
  return new GaussianDiffusion({
    betas, modelMeanType: meanType as ModelMeanType, modelVarType: varType as ModelVarType, lossType: lossType as LossType, minSnrGamma,
  });
}

test('qSample, qMeanVariance, qPosteriorMeanVariance and priorBpd match the reference', () => {
  torch.tidy(() => {
    const d = diffusion(ModelMeanType.EPSILON, ModelVarType.FIXED_SMALL);
    const xStart = f64(g.inputs.xStart, shape);
    const x = f64(g.inputs.x, shape);
    const t = i64(g.inputs.t);
    assertClose(d.qSample(xStart, t, f64(g.inputs.noise, shape)), g.q.qSample!, 'qSample');
    const q = d.qMeanVariance(xStart, t);
    assertClose(q.mean, g.q.qMean!, 'qMean');
    assertClose(q.variance, g.q.qVariance!, 'qVariance');
    assertClose(q.logVariance, g.q.qLogVariance!, 'qLogVariance');
    const p = d.qPosteriorMeanVariance(xStart, x, t);
    assertClose(p.mean, g.q.postMean!, 'postMean');
    assertClose(p.variance, g.q.postVariance!, 'postVariance');
    assertClose(p.logVariance, g.q.postLogVariance!, 'postLogVariance');
    assertClose(d.priorBpd(xStart), g.q.priorBpd!, 'priorBpd');
    assert.equal(q.mean.dtype, 'float64', 'dtype follows x');
  });
});

test('pMeanVariance and vbTermsBpd: every mean type × variance type, clipped and not', () => {
  assert.equal(g.pMeanVariance.length, 4 * 4 * 2);
  torch.tidy(() => {
    const x = f64(g.inputs.x, shape);
    const xStart = f64(g.inputs.xStart, shape);
    const t = i64(g.inputs.t);
    for (const c of g.pMeanVariance) {
      torch.tidy(() => {
        const d = diffusion(c.meanType, c.varType);
        const model = fakeModel(learned(c.varType) ? 4 : 2, g.inputs.tScale);
        const label = `${c.meanType}/${c.varType}/clip=${c.clip}`;
        const out = d.pMeanVariance(model, x, t, { clipDenoised: c.clip });
        assertClose(out.mean, c.mean, `${label} mean`);
        assertClose(out.variance, c.variance, `${label} variance`);
        assertClose(out.logVariance, c.logVariance, `${label} logVariance`);
        assertClose(out.predXstart, c.predXstart, `${label} predXstart`);
        assert.deepEqual(out.modelOutput.shape, shape);
        const vb = d.vbTermsBpd(model, xStart, x, t, { clipDenoised: c.clip });
        assertClose(vb.output, c.vb, `${label} vb`);
        assertClose(vb.predXstart, c.vbPredXstart, `${label} vb predXstart`);
      });
    }
  });
});

test('trainingLosses: every mean type × variance type × loss type, with and without min-SNR-γ', () => {
  assert.equal(g.trainingLosses.length, 144);
  torch.tidy(() => {
    const xStart = f64(g.inputs.xStart, shape);
    const noise = f64(g.inputs.noise, shape);
    const t = i64(g.inputs.t);
    for (const c of g.trainingLosses) {
      torch.tidy(() => {
        const d = diffusion(c.meanType, c.varType, c.lossType, c.minSnrGamma ?? undefined);
        const model = fakeModel(learned(c.varType) ? 4 : 2, g.inputs.tScale);
        const label = `${c.meanType}/${c.varType}/${c.lossType}/γ=${c.minSnrGamma}`;
        const out = d.trainingLosses(model, xStart, t, { noise });
        assertClose(out.loss, c.loss, `${label} loss`);
        assert.equal(out.mse === undefined, c.mse === undefined, `${label}: mse presence`);
        assert.equal(out.vb === undefined, c.vb === undefined, `${label}: vb presence`);
        if (c.mse && out.mse) assertClose(out.mse, c.mse, `${label} mse`);
        if (c.vb && out.vb) assertClose(out.vb, c.vb, `${label} vb`);
      });
    }
  });
  assert.throws(() => diffusion(ModelMeanType.PREVIOUS_X, ModelVarType.FIXED_SMALL, LossType.MSE, 5), /min-SNR/);
});

test('the VB term of the hybrid loss does not move the mean prediction (frozen_out)', () => {
  torch.tidy(() => {
    const d = diffusion(ModelMeanType.EPSILON, ModelVarType.LEARNED_RANGE, LossType.RESCALED_MSE);
    const xStart = f64(g.inputs.xStart, shape);
    const w = torch.tensor(Float64Array.from([0.8, -0.6, 0.5, -0.4]), { shape: [1, 4, 1, 1] }).requiresGrad_();
    const model = (x: Tensor): Tensor => x.repeat([1, 2, 1, 1]).mul(w).tanh();
    const out = d.trainingLosses(model, xStart, i64(g.inputs.t), { noise: f64(g.inputs.noise, shape) });
    out.vb!.sum().backward();
    const grad = w.grad!.toArray();
    assert.deepEqual(grad.slice(0, 2), [0, 0], 'no VB gradient reaches the mean channels');
    assert.ok(grad.slice(2).every((v) => v !== 0), 'the VB gradient reaches the variance channels');
  });
});

test('pSample, ddimSample (η = 0, 0.5) and ddimReverseSample steps match the reference', () => {
  torch.tidy(() => {
    const x = f64(g.inputs.x, shape);
    const noise = f64(g.inputs.noise, shape);
    const t = i64(g.inputs.t);
    for (const c of g.steps) {
      const d = diffusion(c.meanType, c.varType);
      const model = fakeModel(learned(c.varType) ? 4 : 2, g.inputs.tScale);
      const label = `${c.meanType}/${c.varType}`;
      assertClose(d.pSample(model, x, t, { noise }).sample, c.pSample, `${label} pSample`);
      assertClose(d.ddimSample(model, x, t, { noise, eta: 0 }).sample, c.ddim0, `${label} ddim η=0`);
      assertClose(d.ddimSample(model, x, t, { noise, eta: 0.5 }).sample, c.ddim05, `${label} ddim η=0.5`);
      assertClose(d.ddimReverseSample(model, x, t, { clipDenoised: false }).sample, c.ddimReverse, `${label} ddimReverse`);
      assert.throws(() => d.ddimReverseSample(model, x, t, { eta: 0.5 }), /eta must be 0/);
    }
  });
});

test('pSampleLoop, ddimSampleLoop and calcBpdLoop (T = 10) match the reference with the same seed', () => {
  const loops = g.loops;
  const d = new GaussianDiffusion({
    betas: getNamedBetaSchedule('cosine', loops.T), modelMeanType: ModelMeanType.EPSILON,
    modelVarType: ModelVarType.LEARNED_RANGE, lossType: LossType.MSE,
  });
  const model = fakeModel(4, loops.T);
  const before = torch.memory().tensors;
  const seen: number[] = [];
  const p = d.pSampleLoop(model, shape, { generator: new torch.Generator({ seed: loops.seed }), dtype: 'float64', progress: (k) => seen.push(k) });
  assertClose(p, loops.pSampleLoop, 'pSampleLoop');
  assert.deepEqual(seen, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  const q = d.ddimSampleLoop(model, shape, { generator: new torch.Generator({ seed: loops.seed }), dtype: 'float64', eta: 0.5 });
  assertClose(q, loops.ddimSampleLoop, 'ddimSampleLoop');
  const xStart = f64(g.inputs.xStart, shape);
  const bpd = d.calcBpdLoop(model, xStart, { generator: new torch.Generator({ seed: loops.seed }) });
  assertClose(bpd.totalBpd, loops.bpd.total_bpd!, 'totalBpd');
  assertClose(bpd.priorBpd, loops.bpd.prior_bpd!, 'priorBpd');
  assertClose(bpd.vb, loops.bpd.vb!, 'vb');
  assertClose(bpd.xstartMse, loops.bpd.xstart_mse!, 'xstartMse');
  assertClose(bpd.mse, loops.bpd.mse!, 'mse');
  assert.deepEqual(bpd.vb.shape, [4, loops.T]);
  torch.dispose([p, q, xStart, bpd]);
  assert.equal(torch.memory().tensors, before, 'the loops leave no tensors behind');
});

test('pSampleLoopProgressive yields T steps from T−1 down to 0 and frees each when it resumes', () => {
  const d = diffusion(ModelMeanType.EPSILON, ModelVarType.FIXED_LARGE);
  const model = fakeModel(2, T);
  const before = torch.memory().tensors;
  const ts: number[] = [];
  let previous: Tensor | undefined;
  for (const step of d.pSampleLoopProgressive(model, shape, { generator: new torch.Generator({ seed: 3 }) })) {
    if (previous) assert.ok(previous.isDisposed, 'the previous step is disposed');
    assert.deepEqual(step.sample.shape, shape);
    assert.equal(step.sample.dtype, 'float32');
    ts.push(step.t);
    previous = step.sample;
  }
  assert.deepEqual(ts, Array.from({ length: T }, (_, i) => T - 1 - i));
  // Breaking out early closes the loop and frees its tensors too.
  for (const step of d.ddimSampleLoopProgressive(model, shape)) if (step.t === T - 5) break;
  assert.equal(torch.memory().tensors, before);
});

test('classifier guidance: condition_mean shifts the mean by Σ·∇, condition_score shifts ε by −√(1−ᾱ)·∇', () => {
  torch.tidy(() => {
    const d = diffusion(ModelMeanType.EPSILON, ModelVarType.FIXED_SMALL);
    const model = fakeModel(2, T);
    const x = f64(g.inputs.x, shape);
    const t = i64([10, 20, 30, 40]);
    const noise = f64(g.inputs.noise, shape);
    const grad = torch.fullLike(x, 0.3);
    const condFn = (): Tensor => grad.clone();
    const out = d.pMeanVariance(model, x, t);
    const guided = d.pSample(model, x, t, { noise, condFn }).sample;
    const plain = d.pSample(model, x, t, { noise }).sample;
    assertClose(guided.sub(plain), out.variance.mul(0.3).toArray(), 'mean shift = Σ·∇');
    // DDIM (η = 0): eps' = eps − √(1 − ᾱ)·∇, so the x_0 prediction moves by +√((1 − ᾱ)/ᾱ)·√(1 − ᾱ)·∇.
    const gd = d.ddimSample(model, x, t, { condFn, clipDenoised: false }).predXstart;
    const pd = d.ddimSample(model, x, t, { clipDenoised: false }).predXstart;
    const ab = d.extract(d.alphasCumprod, t, x);
    assertClose(gd.sub(pd), ab.rsub(1).div(ab.sqrt()).mul(0.3).expand(shape).toArray(), 'x_0 shift');
  });
});

test('rescaleTimesteps: the model sees t·1000/T as float32', () => {
  const d = new GaussianDiffusion({ betas, modelMeanType: ModelMeanType.EPSILON, modelVarType: ModelVarType.FIXED_SMALL, lossType: LossType.MSE, rescaleTimesteps: true });
  let seen: { dtype: string; values: number[] } | undefined;
  torch.tidy(() => {
    const x = f64(g.inputs.x, shape);
    d.pMeanVariance((xx, tt) => ((seen = { dtype: tt.dtype, values: tt.toArray() }), xx.mul(0)), x, i64([0, 1, 50, 99]));
  });
  assert.deepEqual(seen, { dtype: 'float32', values: [0, 10, 500, 990] });
});

test('DDIM inversion (η = 0): reverse and forward steps are exact inverses; the loops return their start', () => {
  torch.tidy(() => {
    const Tc = 50;
    const d = new GaussianDiffusion({ betas: getNamedBetaSchedule('cosine', Tc), modelMeanType: ModelMeanType.EPSILON, modelVarType: ModelVarType.FIXED_SMALL, lossType: LossType.MSE });
    // The optimal ε-model for data concentrated at x*: ε(x_t, t) = (x_t − √ᾱ_t x*) / √(1 − ᾱ_t).
    // Its ε̂ is constant along a DDIM path, so reverse steps 0..T−2 and forward steps T−1..1
    // (the same ᾱ levels) must undo each other to rounding.
    const xStar = f64(g.inputs.xStart, shape).mul(0.5);
    const pointMass = (x: Tensor, t: Tensor): Tensor => torch.tidy(() => {
      const ab = d.extract(d.alphasCumprod, t, x);
      return x.sub(ab.sqrt().mul(xStar)).div(ab.rsub(1).sqrt());
    });
    const x0 = f64(g.inputs.x, shape).mul(0.5);
    let x = x0;
    for (let i = 0; i < Tc - 1; i++) x = d.ddimReverseSample(pointMass, x, i64([i, i, i, i]), { clipDenoised: false }).sample;
    assert.ok(x.sub(x0).abs().max().item() > 0.1, 'the inversion moved x');
    for (let i = Tc - 1; i >= 1; i--) x = d.ddimSample(pointMass, x, i64([i, i, i, i]), { clipDenoised: false }).sample;
    assertClose(x, x0.toArray(), 'point-mass inversion', 1e-9);
    // The loops (improved-diffusion's usage: reverse t = 0..T−1, then sample T−1..0) with the
    // optimal ε-model of Gaussian data N(μ, s²I), ε̂ = √(1−ᾱ)(x − √ᾱ μ)/(ᾱ s² + 1 − ᾱ): the round
    // trip is off only by the ODE's discretization error, which halves when T doubles.
    const mu = f64(g.inputs.noise, shape).mul(0.3);
    const roundTripError = (steps: number): number => torch.tidy(() => {
      const dd = new GaussianDiffusion({ betas: getNamedBetaSchedule('cosine', steps), modelMeanType: ModelMeanType.EPSILON, modelVarType: ModelVarType.FIXED_SMALL, lossType: LossType.MSE });
      const gaussian = (xx: Tensor, t: Tensor): Tensor => torch.tidy(() => {
        const ab = dd.extract(dd.alphasCumprod, t, xx);
        return xx.sub(ab.sqrt().mul(mu)).mul(ab.rsub(1).sqrt()).div(ab.mul(0.25).add(ab.rsub(1)));
      });
      const xT = dd.ddimReverseSampleLoop(gaussian, x0, { clipDenoised: false });
      assert.ok(xT.sub(x0).abs().max().item() > 1, 'the inversion moved x');
      return dd.ddimSampleLoop(gaussian, shape, { noise: xT, clipDenoised: false }).sub(x0).abs().max().item();
    });
    const e100 = roundTripError(100);
    const e200 = roundTripError(200);
    assert.ok(e200 < 0.05, `round-trip error ${e200} at T = 200`);
    assert.ok(e100 / e200 > 1.7 && e100 / e200 < 2.3, `first-order convergence: errors ${e100} (T = 100), ${e200} (T = 200)`);
  });
});

test('zero-terminal-SNR schedules work with v-prediction: finite samples, min-SNR weights at SNR = 0', () => {
  torch.tidy(() => {
    const zsnr = rescaleZeroTerminalSnr(getNamedBetaSchedule('linear', 20));
    const make = (meanType: ModelMeanType): GaussianDiffusion => new GaussianDiffusion({
      betas: zsnr, modelMeanType: meanType, modelVarType: ModelVarType.FIXED_SMALL, lossType: LossType.MSE, minSnrGamma: 5,
    });
    const v = make(ModelMeanType.VELOCITY);
    assert.equal(v.alphasCumprod[19], 0);
    assert.equal(v.lossWeights![19], 0, 'v: min(0, γ)/(0 + 1)');
    assert.equal(make(ModelMeanType.EPSILON).lossWeights![19], 1, 'ε: min(SNR, γ)/SNR → 1 as SNR → 0');
    assert.equal(make(ModelMeanType.START_X).lossWeights![19], 0, 'x_0: min(0, γ)');
    const model = fakeModel(2, 20);
    const finite = (t: Tensor): boolean => t.isfinite().all().item() === 1;
    assert.ok(finite(v.ddimSampleLoop(model, shape, { generator: new torch.Generator({ seed: 1 }), dtype: 'float64' })));
    assert.ok(finite(v.pSampleLoop(model, shape, { generator: new torch.Generator({ seed: 1 }), dtype: 'float64' })));
    // At ᾱ = 0 the x_0 prediction from v is −v, and x_T carries no signal.
    const x = f64(g.inputs.x, shape);
    const last = i64([19, 19, 19, 19]);
    const out = v.pMeanVariance(model, x, last, { clipDenoised: false });
    assertClose(out.predXstart, out.modelOutput.neg().toArray(), 'x̂_0 = −v at SNR 0');
    const xt = v.qSample(f64(g.inputs.xStart, shape), last, f64(g.inputs.noise, shape));
    assertClose(xt, g.inputs.noise, 'x_T = ε');
  });
});
