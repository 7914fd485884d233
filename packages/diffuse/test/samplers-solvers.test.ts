// The solvers as ODE/SDE integrators on the toy GMM (exact denoiser): convergence orders against
// a fine reference solution of the probability-flow ODE, DPM-Solver++(2M) at 20 steps against
// DDIM at 50, DDIM η = 1 against DDPM, and DDIM inversion.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';
import { ModelMeanType, ModelVarType } from '../src/diffusion/enums.js';
import { ddimInvert, sample, type DiffusionModelSpec, type SampleOptions } from '../src/samplers/index.js';
import { GMM3, gmmSample, linearAlphasCumprod, momentError, sampleMoments, slicedWasserstein, toyModel } from './samplers-toy.js';

torch.setNumThreads(1);

const LINEAR = linearAlphasCumprod(1000);
const SPEC: DiffusionModelSpec = {
  model: toyModel(GMM3, LINEAR, ModelMeanType.EPSILON),
  alphasCumprod: LINEAR,
  meanType: ModelMeanType.EPSILON,
  varType: ModelVarType.FIXED_SMALL,
  rescaleTimesteps: false,
};

/** Mean Euclidean distance between corresponding points. */
function pathwiseError(a: Tensor, b: Tensor): number {
  return torch.tidy(() => a.sub(b).square().sum(1).sqrt().mean().item());
}

function draw(options: SampleOptions, noise: Tensor): Tensor {
  return sample(SPEC, noise.shape, { ...options, noise });
}

test('the deterministic solvers converge to the ODE solution at their order', (t) => {
  const noise = torch.randn([500, 2, 1, 1], { generator: new torch.Generator({ seed: 21 }) });
  // Reference: Heun with 400 steps (799 evaluations), error ~1e-4.
  const reference = draw({ sampler: 'heun', steps: 400 }, noise);
  const err = (options: SampleOptions): number => {
    const x = draw(options, noise);
    const e = pathwiseError(x, reference);
    x.dispose();
    return e;
  };
  // Doubling the steps divides the error by ≈ 2^order.
  const cases: [SampleOptions, SampleOptions, number][] = [
    [{ sampler: 'ddim', steps: 50 }, { sampler: 'ddim', steps: 100 }, 1],
    [{ sampler: 'euler', steps: 50 }, { sampler: 'euler', steps: 100 }, 1],
    [{ sampler: 'heun', steps: 25 }, { sampler: 'heun', steps: 50 }, 2],
    [{ sampler: 'dpmpp-2m', steps: 25 }, { sampler: 'dpmpp-2m', steps: 50 }, 2],
  ];
  for (const [coarse, fine, order] of cases) {
    const eCoarse = err(coarse);
    const eFine = err(fine);
    const observed = Math.log2(eCoarse / eFine);
    t.diagnostic(`${coarse.sampler} ${coarse.steps} → ${fine.steps} steps: error ${eCoarse.toExponential(2)} → ${eFine.toExponential(2)}, order ${observed.toFixed(2)}`);
    assert.ok(Math.abs(observed - order) < 0.5, `${coarse.sampler}: errors ${eCoarse.toExponential(2)} → ${eFine.toExponential(2)}, order ${observed.toFixed(2)}`);
  }
  torch.dispose([noise, reference]);
});

test('DPM-Solver++(2M) with 20 steps is at least as accurate as DDIM with 50', (t) => {
  const N = 3000;
  const noise = torch.randn([N, 2, 1, 1], { generator: new torch.Generator({ seed: 22 }) });
  const truth = gmmSample(GMM3, N, 23); // independent data, for the distribution metrics
  const reference = draw({ sampler: 'dpmpp-2m', steps: 200 }, noise); // the ODE solution, error ~1e-4
  const dpm = draw({ sampler: 'dpmpp-2m', steps: 20 }, noise);
  const ddim = draw({ sampler: 'ddim', steps: 50 }, noise);
  const report = (x: Tensor): string =>
    `pathwise ${pathwiseError(x, reference).toFixed(4)}, cov err ${momentError(x, GMM3).cov.toFixed(4)}, SW ${slicedWasserstein(x, truth).toFixed(4)}`;
  const what = `dpmpp-2m 20: ${report(dpm)}; ddim 50: ${report(ddim)}`;
  t.diagnostic(what);
  assert.ok(pathwiseError(dpm, reference) <= pathwiseError(ddim, reference), what);
  assert.ok(momentError(dpm, GMM3).cov <= momentError(ddim, GMM3).cov, what);
  assert.ok(slicedWasserstein(dpm, truth) <= slicedWasserstein(ddim, truth), what);
  torch.dispose([noise, truth, reference, dpm, ddim]);
});

test('DDIM with η = 1 is DDPM with the posterior variance (same timesteps, same noise)', () => {
  const noise = torch.randn([200, 2, 1, 1], { generator: new torch.Generator({ seed: 24 }) });
  for (const steps of [1000, 37]) {
    const a = sample(SPEC, noise.shape, { sampler: 'ddim', eta: 1, steps, noise, generator: new torch.Generator({ seed: 25 }) });
    const b = sample(SPEC, noise.shape, { sampler: 'ddpm', steps, noise, generator: new torch.Generator({ seed: 25 }) });
    const d = torch.tidy(() => a.sub(b).abs().max().item());
    assert.ok(d < 1e-4, `steps ${steps}: max difference ${d}`);
    torch.dispose([a, b]);
  }
  noise.dispose();
});

test('DDIM inversion maps data to N(0, I) and DDIM sampling maps it back', (t) => {
  const x0 = gmmSample(GMM3, 1000, 26);
  const roundTrip = (steps: number): { err: number; xT: Tensor } => {
    const xT = ddimInvert(SPEC, x0, { steps });
    const back = sample(SPEC, x0.shape, { sampler: 'ddim', steps, noise: xT });
    const err = pathwiseError(back, x0);
    back.dispose();
    return { err, xT };
  };
  const r100 = roundTrip(100);
  const r200 = roundTrip(200);
  // The explicit steps each way make the round trip first order: small, and halving with h.
  assert.ok(r100.err < 0.05, `round trip error ${r100.err}`);
  assert.ok(r200.err < 0.6 * r100.err, `round trip error ${r100.err} → ${r200.err}`);
  const m = sampleMoments(r200.xT);
  t.diagnostic(`round trip error ${r100.err.toFixed(4)} (100 steps), ${r200.err.toFixed(4)} (200); x_T mean ${m.mean.map((v) => v.toFixed(3))}, cov ${m.cov.flat().map((v) => v.toFixed(3))}`);
  assert.ok(Math.abs(m.mean[0]!) < 0.05 && Math.abs(m.mean[1]!) < 0.05, JSON.stringify(m));
  assert.ok(m.cov[0]![0]! > 0.9 && m.cov[1]![1]! < 1.05 && Math.abs(m.cov[0]![1]!) < 0.05, JSON.stringify(m));
  torch.dispose([x0, r100.xT, r200.xT]);
});
