// Timestep respacing against improved-diffusion's space_timesteps and SpacedDiffusion
// (golden/diffusion.py), and the model wrapper's view of time.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';
import {
  alphasCumprodOf, GaussianDiffusion, getNamedBetaSchedule, LossType, ModelMeanType, ModelVarType, spaceTimesteps, SpacedDiffusion,
} from '../src/index.js';
import { assertClose, f64, fakeModel, golden, i64 } from './diffusion-helpers.js';

const g = golden();

test('spaceTimesteps returns the reference sets', () => {
  for (const c of g.spaceTimesteps) {
    assert.deepEqual(spaceTimesteps(c.T, c.spec), c.steps, `T=${c.T} spec=${JSON.stringify(c.spec)}`);
  }
  assert.deepEqual(spaceTimesteps(1000, 10), spaceTimesteps(1000, [10]), 'a number is one section');
});

test('spaceTimesteps fails where the reference fails (no exact DDIM stride, sections too small)', () => {
  assert.equal(g.spaceTimestepsErrors.length, 3);
  for (const c of g.spaceTimestepsErrors) assert.throws(() => spaceTimesteps(c.T, c.spec), RangeError, `T=${c.T} spec=${c.spec}`);
  assert.throws(() => spaceTimesteps(100, 'ddim40'), /cannot create exactly 40 steps/);
  assert.throws(() => spaceTimesteps(10, '6,6'), /cannot divide section of 5 steps into 6/);
});

test('SpacedDiffusion: β from ᾱ ratios, ᾱ kept at the kept steps, the timestep map', () => {
  const base = getNamedBetaSchedule('linear', 1000);
  const baseAlphaBar = alphasCumprodOf(base);
  for (const c of g.respacedBetas) {
    const sd = new SpacedDiffusion({
      useTimesteps: spaceTimesteps(1000, c.spec), betas: base,
      modelMeanType: ModelMeanType.EPSILON, modelVarType: ModelVarType.FIXED_SMALL, lossType: LossType.MSE,
    });
    assertClose(sd.betas, c.betas, `betas ${c.spec}`, 1e-12);
    assert.deepEqual(sd.timestepMap, c.timestepMap);
    assert.equal(sd.numTimesteps, c.timestepMap.length);
    assert.equal(sd.originalNumSteps, 1000);
    // Closed form: the spaced process has the base ᾱ at every kept step.
    assertClose(sd.alphasCumprod, c.timestepMap.map((s) => baseAlphaBar[s]!), `ᾱ ${c.spec}`, 1e-12);
  }
  // Keeping every step reproduces the base process.
  const all = new SpacedDiffusion({ useTimesteps: spaceTimesteps(1000, '1000'), betas: base, modelMeanType: ModelMeanType.EPSILON, modelVarType: ModelVarType.FIXED_SMALL, lossType: LossType.MSE });
  assertClose(all.betas, base, 'identity respacing', 1e-12);
  assert.throws(() => new SpacedDiffusion({ useTimesteps: [0, 1000], betas: base, modelMeanType: ModelMeanType.EPSILON, modelVarType: ModelVarType.FIXED_SMALL, lossType: LossType.MSE }), /out of range/);
});

test('the wrapped model sees original timesteps, rescaled when asked, and wrapping twice is a no-op', () => {
  const betas = getNamedBetaSchedule('linear', 100);
  const make = (rescaleTimesteps: boolean): SpacedDiffusion => new SpacedDiffusion({
    useTimesteps: spaceTimesteps(100, 'ddim10'), betas, rescaleTimesteps,
    modelMeanType: ModelMeanType.EPSILON, modelVarType: ModelVarType.FIXED_SMALL, lossType: LossType.MSE,
  });
  const calls: { dtype: string; values: number[] }[] = [];
  const spy = (x: Tensor, t: Tensor): Tensor => {
    calls.push({ dtype: t.dtype, values: t.toArray() });
    return x.mul(0);
  };
  torch.tidy(() => {
    const x = torch.zeros([4, 1, 2, 2]);
    make(false).pMeanVariance(spy, x, i64([0, 1, 5, 9]));
    const sd = make(true);
    const wrapped = sd.wrapModel(spy);
    assert.equal(sd.wrapModel(wrapped), wrapped);
    sd.pMeanVariance(wrapped, x, i64([0, 1, 5, 9]));
    sd.trainingLosses(spy, x, i64([9, 9, 0, 0]));
  });
  assert.deepEqual(calls, [
    { dtype: 'int64', values: [0, 10, 50, 90] },
    { dtype: 'float32', values: [0, 100, 500, 900] },
    { dtype: 'float32', values: [900, 900, 0, 0] },
  ]);
});

test('a spaced, rescaled hybrid-loss diffusion matches the reference (pMeanVariance, trainingLosses)', () => {
  const c = g.spacedRescaled;
  const shape = g.inputs.shape;
  torch.tidy(() => {
    const sd = new SpacedDiffusion({
      useTimesteps: spaceTimesteps(g.inputs.T, c.spec), betas: getNamedBetaSchedule('linear', g.inputs.T), rescaleTimesteps: true,
      modelMeanType: ModelMeanType.EPSILON, modelVarType: ModelVarType.LEARNED_RANGE, lossType: LossType.RESCALED_MSE,
    });
    assert.ok(sd instanceof GaussianDiffusion);
    const model = fakeModel(4, c.tScale);
    const t = i64(c.t);
    const out = sd.pMeanVariance(model, f64(g.inputs.x, shape), t, { clipDenoised: false });
    assertClose(out.mean, c.mean, 'mean');
    assertClose(out.logVariance, c.logVariance, 'logVariance');
    assertClose(out.predXstart, c.predXstart, 'predXstart');
    const losses = sd.trainingLosses(model, f64(g.inputs.xStart, shape), t, { noise: f64(g.inputs.noise, shape) });
    assertClose(losses.loss, c.loss, 'loss');
    assertClose(losses.mse!, c.mse, 'mse');
    assertClose(losses.vb!, c.vb, 'vb');
  });
});
