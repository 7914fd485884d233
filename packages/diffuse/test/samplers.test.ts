// Samplers against a toy distribution with a known optimal denoiser (samplers-toy.ts): every
// sampler, with every parameterization, must reproduce the data's mean and covariance.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as torch from '@diffuse/torch';
import { ModelMeanType, ModelVarType } from '../src/diffusion/enums.js';
import { SAMPLERS, sample, sampleProgressive, type DiffusionModelSpec, type SampleOptions, type SamplerName } from '../src/samplers/index.js';
import { GMM3, cosineAlphasCumprod, gmmSample, linearAlphasCumprod, momentError, slicedWasserstein, toyModel } from './samplers-toy.js';

// The toy tensors are tiny: one thread beats two, and much more so on a busy machine.
torch.setNumThreads(1);

const T = 1000;
const LINEAR = linearAlphasCumprod(T);
const COSINE = cosineAlphasCumprod(T);
const N = 3000;
const REFERENCE = gmmSample(GMM3, N, 11).keep(); // (N, 2, 1, 1)

function spec(ac: Float64Array, meanType: ModelMeanType, varType: ModelVarType, rescale: boolean): DiffusionModelSpec {
  const learned = varType === ModelVarType.LEARNED_RANGE || varType === ModelVarType.LEARNED;
  const model = toyModel(GMM3, ac, meanType, { rescale, learnedSigma: learned });
  return { model, alphasCumprod: ac, meanType, varType, rescaleTimesteps: rescale };
}

const VARIANTS: { name: string; spec: DiffusionModelSpec }[] = [
  { name: 'ε, linear, fixed large', spec: spec(LINEAR, ModelMeanType.EPSILON, ModelVarType.FIXED_LARGE, false) },
  { name: 'x0, linear, fixed small, rescaled t', spec: spec(LINEAR, ModelMeanType.START_X, ModelVarType.FIXED_SMALL, true) },
  { name: 'v, linear, fixed small', spec: spec(LINEAR, ModelMeanType.VELOCITY, ModelVarType.FIXED_SMALL, false) },
  { name: 'ε + learned range σ (2C channels), linear, rescaled t', spec: spec(LINEAR, ModelMeanType.EPSILON, ModelVarType.LEARNED_RANGE, true) },
  { name: 'ε, cosine, fixed large', spec: spec(COSINE, ModelMeanType.EPSILON, ModelVarType.FIXED_LARGE, false) },
];

// Steps per sampler: enough that the first-order ones' discretization bias (they widen the
// covariance) stays well inside the bounds. The cosine schedule's last β is clipped to 0.999
// (σ_max ≈ 1e4), so the σ-grid samplers spend more of their steps where x_t is pure noise and
// get more steps there.
const RUNS: { sampler: SamplerName; steps: number; cosineSteps: number; eta?: number }[] = [
  { sampler: 'ddpm', steps: 100, cosineSteps: 100 },
  { sampler: 'ddim', steps: 50, cosineSteps: 50 },
  { sampler: 'ddim', steps: 100, cosineSteps: 100, eta: 1 },
  { sampler: 'dpmpp-2m', steps: 20, cosineSteps: 25 },
  { sampler: 'euler', steps: 100, cosineSteps: 200 },
  { sampler: 'heun', steps: 25, cosineSteps: 50 },
];

// The data's own sampling error at N = 3000 is ≈ 0.015 in mean and covariance entries and ≈ 0.025
// in sliced W1; the bounds leave room for that plus a small discretization error.
const MEAN_TOL = 0.04;
const COV_TOL = 0.06;
const SW_TOL = 0.05;

for (const variant of VARIANTS) {
  test(`every sampler reproduces the GMM's moments: ${variant.name}`, (t) => {
    const cosine = variant.spec.alphasCumprod === COSINE;
    for (const run of RUNS) {
      const options: SampleOptions = {
        sampler: run.sampler,
        steps: cosine ? run.cosineSteps : run.steps,
        eta: run.eta,
        generator: new torch.Generator({ seed: 5 }),
      };
      const x = sample(variant.spec, [N, 2, 1, 1], options); // (N, 2, 1, 1)
      const err = momentError(x, GMM3);
      const sw = slicedWasserstein(x, REFERENCE);
      x.dispose();
      const what = `${run.sampler}${run.eta !== undefined ? ` η=${run.eta}` : ''}: mean err ${err.mean.toFixed(4)}, cov err ${err.cov.toFixed(4)}, SW ${sw.toFixed(4)}`;
      t.diagnostic(what);
      assert.ok(err.mean < MEAN_TOL && err.cov < COV_TOL && sw < SW_TOL, what);
    }
  });
}

test('a previous_x model is sampled by DDPM over the full chain, and refused elsewhere', () => {
  const prev = spec(LINEAR, ModelMeanType.PREVIOUS_X, ModelVarType.FIXED_SMALL, false);
  const x = sample(prev, [2000, 2, 1, 1], { sampler: 'ddpm', generator: new torch.Generator({ seed: 6 }) });
  const err = momentError(x, GMM3);
  x.dispose();
  assert.ok(err.mean < MEAN_TOL && err.cov < COV_TOL, JSON.stringify(err));
  for (const sampler of SAMPLERS.filter((s) => s !== 'ddpm')) {
    assert.throws(() => sample(prev, [4, 2, 1, 1], { sampler, steps: 5 }), /previous_x.*'ddpm' sampler/);
  }
  assert.throws(() => sample(prev, [4, 2, 1, 1], { sampler: 'ddpm', steps: 100 }), /all 1000 steps/);
});

test('learned-range σ at v = −1 is fixed-small DDPM and at v = +1 fixed-large (same noise, same samples)', () => {
  const draw = (varType: ModelVarType, varFill?: number): number[] => {
    const learned = varFill !== undefined;
    const model = toyModel(GMM3, LINEAR, ModelMeanType.EPSILON, { learnedSigma: learned, varFill });
    const s: DiffusionModelSpec = { model, alphasCumprod: LINEAR, meanType: ModelMeanType.EPSILON, varType, rescaleTimesteps: false };
    const x = sample(s, [64, 2, 1, 1], { sampler: 'ddpm', steps: 20, generator: new torch.Generator({ seed: 9 }) });
    const out = x.toArray();
    x.dispose();
    return out;
  };
  const close = (a: number[], b: number[]): boolean => a.every((v, i) => Math.abs(v - b[i]!) < 1e-4);
  assert.ok(close(draw(ModelVarType.LEARNED_RANGE, -1), draw(ModelVarType.FIXED_SMALL)));
  assert.ok(close(draw(ModelVarType.LEARNED_RANGE, 1), draw(ModelVarType.FIXED_LARGE)));
  assert.ok(!close(draw(ModelVarType.FIXED_SMALL), draw(ModelVarType.FIXED_LARGE)));
});

test('a model with the wrong number of output channels is refused', () => {
  const s = spec(LINEAR, ModelMeanType.EPSILON, ModelVarType.FIXED_SMALL, false);
  const learned: DiffusionModelSpec = { ...s, varType: ModelVarType.LEARNED_RANGE };
  assert.throws(() => sample(learned, [4, 2, 1, 1], { sampler: 'ddim', steps: 3 }), /2 channels.*must output 4/);
});

test('clipDenoised keeps the samples in [−1, 1]', () => {
  const s = { ...spec(LINEAR, ModelMeanType.START_X, ModelVarType.FIXED_SMALL, false), clipDenoised: true };
  for (const sampler of SAMPLERS) {
    const x = sample(s, [500, 2, 1, 1], { sampler, steps: 10, generator: new torch.Generator({ seed: 2 }) });
    const absMax = torch.tidy(() => x.abs().max().item());
    x.dispose();
    assert.ok(absMax <= 1 + 1e-6, `${sampler}: max |x| = ${absMax}`);
  }
});

test('sample() leaves only its result behind; the progressive run yields every step', () => {
  const s = VARIANTS[3]!.spec;
  const noise = torch.randn([256, 2, 1, 1], { generator: new torch.Generator({ seed: 4 }) });
  for (const sampler of SAMPLERS) {
    const before = torch.memory().tensors;
    const calls: number[] = [];
    const x = sample(s, [256, 2, 1, 1], { sampler, steps: 8, noise, progress: (i, total) => calls.push(i, total), generator: new torch.Generator({ seed: 1 }) });
    assert.equal(torch.memory().tensors, before + 1, `${sampler} leaked`);
    assert.deepEqual(calls, [1, 8, 2, 8, 3, 8, 4, 8, 5, 8, 6, 8, 7, 8, 8, 8]);

    let steps = 0;
    let last: number[] = [];
    for (const out of sampleProgressive(s, [256, 2, 1, 1], { sampler, steps: 8, noise, generator: new torch.Generator({ seed: 1 }) })) {
      steps++;
      assert.deepEqual(out.x.shape, [256, 2, 1, 1]);
      if (out.step === 1) {
        // After one step from σ_max the VP state is still almost pure noise: variance ≈ 1.
        const v = torch.tidy(() => out.x.var().item());
        assert.ok(Math.abs(v - 1) < 0.2, `${sampler}: first x_t variance ${v}`);
      }
      last = out.x.toArray();
      torch.dispose([out.x, out.x0]);
    }
    assert.equal(steps, 8);
    assert.equal(torch.memory().tensors, before + 1, `${sampler} progressive leaked`);
    // The same noise and generator give the same samples either way.
    assert.ok(x.toArray().every((v, i) => Math.abs(v - last[i]!) < 1e-5), `${sampler}: progressive differs`);
    x.dispose();
  }
  noise.dispose();
});
