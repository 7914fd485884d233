// Guidance on a two-class version of the toy GMM (class 0 = component 0, class 1 = components
// 1 and 2), whose class-conditional denoisers and class posterior p(y | x_t) are exact.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';
import { ModelMeanType, ModelVarType, type ModelFn, type ModelKwargs } from '../src/diffusion/enums.js';
import { classifierFreeGuidance, classifierGradient, type ClassifierGuidance, type Guidance } from '../src/guidance/index.js';
import { sample, type DiffusionModelSpec, type SamplerName } from '../src/samplers/index.js';
import { GMM3, classLogPosterior, levelOf, linearAlphasCumprod, momentError, toyModel } from './samplers-toy.js';

torch.setNumThreads(1);

const LINEAR = linearAlphasCumprod(1000);
const CLASSES = [[0], [1, 2]];
const NULL_CLASS = 2;

function labels(values: number[]): Tensor {
  return torch.tensor(values, { dtype: 'int64' }); // (B,)
}

function conditionalSpec(model: ModelFn): DiffusionModelSpec {
  return { model, alphasCumprod: LINEAR, meanType: ModelMeanType.EPSILON, varType: ModelVarType.FIXED_SMALL, rescaleTimesteps: false };
}

test('classifier-free guidance: one batched call, ε_u + s(ε_c − ε_u), variance from the conditional branch', () => {
  const calls: { batch: number; extra: number[] }[] = [];
  const eps = toyModel(GMM3, LINEAR, ModelMeanType.EPSILON, { classes: CLASSES });
  // A learned-variance model (2C channels) whose variance channels carry the label it was given.
  const model: ModelFn = (x, t, kwargs) =>
    torch.tidy(() => {
      calls.push({ batch: x.size(0), extra: kwargs.extra!.shape });
      const label = kwargs.y!.float().reshape([-1, 1, 1, 1]).expand(x.shape); // (B, C, H, W)
      return torch.cat([eps(x, t, kwargs), label], 1); // (B, 2C, H, W)
    });
  const B = 6;
  const x = torch.randn([B, 2, 1, 1], { generator: new torch.Generator({ seed: 31 }) });
  const t = torch.full([B], 400);
  const y = labels([0, 1, 0, 1, 1, 0]);
  const kwargs: ModelKwargs = { y, extra: torch.zeros([B, 3]) };
  const conditional = eps(x, t, { y }); // (B, C, H, W)
  const unconditional = eps(x, t, { y: torch.fullLike(y, NULL_CLASS) }); // (B, C, H, W)

  for (const s of [0, 1, 3]) {
    calls.length = 0;
    const out = classifierFreeGuidance(model, { scale: s, nullClass: NULL_CLASS })(x, t, kwargs); // (B, 2C, H, W)
    assert.deepEqual(calls, [{ batch: 2 * B, extra: [2 * B, 3] }], 'one forward over the doubled batch');
    assert.deepEqual(out.shape, [B, 4, 1, 1]);
    const expected = unconditional.add(conditional.sub(unconditional).mul(s)); // (B, C, H, W)
    assert.ok(out.narrow(1, 0, 2).allclose(expected, 1e-5, 1e-5), `s = ${s}`);
    assert.ok(out.narrow(1, 2, 2).equal(y.float().reshape([-1, 1, 1, 1]).expand([B, 2, 1, 1])), 'variance of the conditional branch');
  }
  // s = 1 is the conditional model and s = 0 the unconditional one.
  const plain = classifierFreeGuidance(eps, { scale: 1, nullClass: NULL_CLASS })(x, t, { y });
  assert.ok(plain.allclose(conditional, 1e-6, 1e-6));
  const none = classifierFreeGuidance(eps, { scale: 0, nullClass: NULL_CLASS })(x, t, { y });
  assert.ok(none.allclose(unconditional, 1e-6, 1e-6));
  torch.dispose([x, t, y, kwargs.extra, conditional, unconditional, plain, none]);
});

test('sampling with classifier-free guidance at s = 1 draws each class, at s = 0 the whole mixture', (t) => {
  const spec = conditionalSpec(toyModel(GMM3, LINEAR, ModelMeanType.EPSILON, { classes: CLASSES }));
  const n = 1500;
  const y = labels([...Array<number>(n).fill(0), ...Array<number>(n).fill(1)]);
  for (const [scale, check] of [
    [1, (x: Tensor) => [momentError(x.narrow(0, 0, n), GMM3, CLASSES[0]), momentError(x.narrow(0, n, n), GMM3, CLASSES[1])]],
    [0, (x: Tensor) => [momentError(x, GMM3)]],
  ] as const) {
    const x = sample(spec, [2 * n, 2, 1, 1], {
      sampler: 'dpmpp-2m',
      steps: 20,
      modelKwargs: { y },
      guidance: { kind: 'classifier-free', scale, nullClass: NULL_CLASS },
      generator: new torch.Generator({ seed: 32 }),
    });
    for (const err of torch.tidy(() => check(x))) {
      t.diagnostic(`s = ${scale}: mean err ${err.mean.toFixed(4)}, cov err ${err.cov.toFixed(4)}`);
      assert.ok(err.mean < 0.04 && err.cov < 0.05, `s = ${scale}: ${JSON.stringify(err)}`);
    }
    x.dispose();
  }
  y.dispose();
});

/** The exact noisy-image classifier: logits = log p(y | x_t) of the two classes. */
const classifier = (x: Tensor, t: Tensor): Tensor =>
  torch.tidy(() => {
    const { a, b } = levelOf(LINEAR, t, false);
    return classLogPosterior(GMM3, x.reshape([-1, 2]).double(), a, b, CLASSES); // (B, 2)
  });

test('classifierGradient is ∇_x log p(y | x_t) (autograd against the closed form)', () => {
  const pts = [[0.3, -0.2], [-1.1, 0.4], [0.9, 1.2]];
  const ys = [0, 1, 1];
  const tStep = 250;
  const x = torch.tensor(pts.flat(), { shape: [3, 2, 1, 1] });
  const g = classifierGradient(classifier)(x, torch.full([3], tStep), { y: labels(ys) }).toArray();
  // ∇ log p(y|x) = Σ_{k∈y} r^y_k ∇ log N_k − Σ_k r_k ∇ log N_k, ∇ log N_k = −(x − a μ_k)/v_k.
  const ab = LINEAR[tStep]!;
  const [a, b2] = [Math.sqrt(ab), 1 - ab];
  pts.forEach((p, i) => {
    const comps = GMM3.weights.map((w, k) => {
      const v = a * a * GMM3.stds[k]! ** 2 + b2;
      const d = [0, 1].map((j) => p[j]! - a * GMM3.means[k]![j]!);
      return { dens: (w / v) * Math.exp(-(d[0]! ** 2 + d[1]! ** 2) / (2 * v)), grad: d.map((dj) => -dj / v) };
    });
    const avgGrad = (ks: number[]): number[] => {
      const z = ks.reduce((s, k) => s + comps[k]!.dens, 0);
      return [0, 1].map((j) => ks.reduce((s, k) => s + (comps[k]!.dens / z) * comps[k]!.grad[j]!, 0));
    };
    const inClass = avgGrad(CLASSES[ys[i]!]!);
    const all = avgGrad([0, 1, 2]);
    for (const j of [0, 1]) assert.ok(Math.abs(g[2 * i + j]! - (inClass[j]! - all[j]!)) < 1e-4, `point ${i}, axis ${j}`);
  });
  x.dispose();
});

test('classifier guidance at s = 1 turns the unconditional model into each class (DDPM, DDIM, Euler)', (t) => {
  const spec = conditionalSpec(toyModel(GMM3, LINEAR, ModelMeanType.EPSILON));
  const guidance: ClassifierGuidance = { kind: 'classifier', gradFn: classifierGradient(classifier), scale: 1 };
  const n = 1500;
  const runs: [SamplerName, number][] = [['ddpm', 200], ['ddim', 50], ['euler', 100]];
  for (const [sampler, steps] of runs) {
    for (const c of [0, 1]) {
      const y = labels(Array<number>(n).fill(c));
      const x = sample(spec, [n, 2, 1, 1], { sampler, steps, modelKwargs: { y }, guidance, generator: new torch.Generator({ seed: 33 }) });
      const err = momentError(x, GMM3, CLASSES[c]);
      t.diagnostic(`${sampler} ${steps}, class ${c}: mean err ${err.mean.toFixed(4)}, cov err ${err.cov.toFixed(4)}`);
      assert.ok(err.mean < 0.04 && err.cov < 0.05, `${sampler}, class ${c}: ${JSON.stringify(err)}`);
      torch.dispose([x, y]);
    }
  }
});

test('guided sampling leaves only its result behind', () => {
  const conditional = conditionalSpec(toyModel(GMM3, LINEAR, ModelMeanType.EPSILON, { classes: CLASSES }));
  const unconditional = conditionalSpec(toyModel(GMM3, LINEAR, ModelMeanType.EPSILON));
  const y = labels([0, 1, 1, 0]);
  const cases: [DiffusionModelSpec, SamplerName, Guidance][] = [
    [conditional, 'ddpm', { kind: 'classifier-free', scale: 3, nullClass: NULL_CLASS }],
    [conditional, 'heun', { kind: 'classifier-free', scale: 3, nullClass: NULL_CLASS }],
    [unconditional, 'ddpm', { kind: 'classifier', gradFn: classifierGradient(classifier), scale: 2 }],
    [unconditional, 'dpmpp-2m', { kind: 'classifier', gradFn: classifierGradient(classifier), scale: 2 }],
  ];
  for (const [spec, sampler, guidance] of cases) {
    const before = torch.memory().tensors;
    const x = sample(spec, [4, 2, 1, 1], { sampler, steps: 6, modelKwargs: { y }, guidance });
    assert.equal(torch.memory().tensors, before + 1, `${sampler} with ${guidance.kind} guidance leaked`);
    x.dispose();
  }
  y.dispose();
});
