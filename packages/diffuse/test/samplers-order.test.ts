// The σ-grid solvers against the closed form of Gaussian data x_0 ~ N(μ, s² I): the exact
// denoiser is affine, D(x, σ) = μ + s²/(s²+σ²) (x − μ) on the VE state x = x_t/√ᾱ, and the
// probability-flow ODE dx/dσ = (x − D)/σ = σ (x − μ)/(s²+σ²) has the exact solution
//   x(σ) = μ + (x(σ_0) − μ) √(s²+σ²) / √(s²+σ_0²).
// So every solver's error is measured against the truth, not a fine run of another solver:
// errors fall at the solver's order as the steps double; every parameterization of the one model
// gives the same trajectory; and classifier-free guidance, being affine in μ as D is, samples
// N(μ_u + w (μ_c − μ_u), s² I) exactly, which the guided solvers must reproduce.
// Everything runs in float64 (the model keeps the input dtype), so the error floor (~1e-7, from
// the float32 timestep tensor the model reads its level from) is far below the errors measured.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';
import { ModelMeanType, ModelVarType, type ModelFn } from '../src/diffusion/enums.js';
import {
  DiscreteSigmas,
  runToEnd,
  sample,
  sampleProgressive,
  solverSigmas,
  uniPc,
  type DiffusionModelSpec,
  type SampleOptions,
  type SamplerName,
  type Spacing,
} from '../src/samplers/index.js';
import { cosineAlphasCumprod, levelOf, linearAlphasCumprod } from './samplers-toy.js';

torch.setNumThreads(1);

const LINEAR = linearAlphasCumprod(1000);
const COSINE = cosineAlphasCumprod(1000);
const S = 0.5; // the data's standard deviation
/** Class means (2-D, as (N, 2, 1, 1) points); the last row is the unconditional (null-class) mean. */
const MEANS = [[0.3, -0.2], [-0.8, 0.6], [0.1, 0.2]];
const NULL_CLASS = 2;

/** The exact model of N(μ_y, s² I) for labels y (the null class when no y), predicting `meanType`. */
function gaussianModel(ac: Float64Array, meanType: ModelMeanType): ModelFn {
  return (x, t, kwargs) =>
    torch.tidy(() => {
      const { a, b } = levelOf(ac, t, false);
      const means = torch.tensor(MEANS.flat(), { dtype: 'float64', shape: [MEANS.length, 2] }); // (K, 2)
      const y = kwargs.y ?? torch.full([x.size(0)], NULL_CLASS, { dtype: 'int64' }); // (B,)
      const mu = means.indexSelect(0, y).reshape([-1, 2, 1, 1]).to(x.dtype); // (B, 2, 1, 1)
      // E[x_0 | x_t] for x_t = a x_0 + b ε: μ + a s²/(a² s² + b²) (x_t − a μ).
      const x0 = x.sub(mu.mul(a)).mul((a * S * S) / (a * a * S * S + b * b)).add(mu); // (B, 2, 1, 1)
      const eps = x.sub(x0.mul(a)).div(b); // (B, 2, 1, 1)
      if (meanType === ModelMeanType.START_X) return x0;
      if (meanType === ModelMeanType.VELOCITY) return eps.mul(a).sub(x0.mul(b));
      return eps;
    });
}

function gaussianSpec(ac: Float64Array, meanType = ModelMeanType.EPSILON): DiffusionModelSpec {
  return { model: gaussianModel(ac, meanType), alphasCumprod: ac, meanType, varType: ModelVarType.FIXED_SMALL, rescaleTimesteps: false };
}

const DEFAULT_SPACING: Partial<Record<SamplerName, Spacing>> = { euler: 'karras', heun: 'karras' };

/**
 * The exact end of a run from the start noise z: the ODE solution at the run's last nonzero
 * level σ_lo, then D at σ_lo when the run ends by denoising (σ_N = 0), else the VP x_t there.
 * @param mu the data mean (B, 2, 1, 1) or (1, 2, 1, 1).
 */
function exactEnd(ac: Float64Array, options: SampleOptions & { steps: number }, z: Tensor, mu: Tensor): Tensor {
  const sigmas = solverSigmas(new DiscreteSigmas(ac), options.steps, { ...options, spacing: options.spacing as Spacing | undefined }, DEFAULT_SPACING[options.sampler] ?? 'logsnr');
  const N = sigmas.length - 1;
  const s0 = sigmas[0]!;
  const end = sigmas[N]!;
  const lo = end === 0 ? sigmas[N - 1]! : end;
  return torch.tidy(() => {
    const start = z.mul(Math.sqrt(1 + s0 * s0)); // the VE start state
    const xLo = start.sub(mu).mul(Math.sqrt(S * S + lo * lo) / Math.sqrt(S * S + s0 * s0)).add(mu); // (B, 2, 1, 1)
    if (end === 0) return xLo.sub(mu).mul((S * S) / (S * S + lo * lo)).add(mu);
    return xLo.div(Math.sqrt(1 + end * end));
  });
}

/** Root-mean-square distance. */
function rms(a: Tensor, b: Tensor): number {
  return torch.tidy(() => a.sub(b).square().mean().sqrt().item());
}

const Z = torch.randn([256, 2, 1, 1], { dtype: 'float64', generator: new torch.Generator({ seed: 41 }) }).keep();
const MU_NULL = torch.tensor(MEANS[NULL_CLASS]!, { dtype: 'float64', shape: [1, 2, 1, 1] }).keep();

/** The error of a run against the closed form. */
function error(spec: DiffusionModelSpec, options: SampleOptions & { steps: number }, mu = MU_NULL): number {
  const x = sample(spec, Z.shape, { ...options, noise: Z });
  const exact = exactEnd(spec.alphasCumprod, options, Z, mu);
  const e = rms(x, exact);
  torch.dispose([x, exact]);
  return e;
}

// Each case: the solver, the step counts N → 2N where the error is in its asymptotic regime
// (measured: the orders settle from ~20 steps on, and the errors there, 1e-3…1e-6, are well above
// the 1e-7 floor), the order it must show and the margin. The margins: the measured orders sit
// within ±0.15 of these on the linear schedule; ±0.3 (0.4 for UniPC, whose corrector and warm-up
// steps shift the constant) leaves room for the pre-asymptotic terms while still telling order p
// from p ± 1. DPM-Solver++(3M) and UniPC-3 are only asserted to be at least third order: on
// Gaussian data 3M measures ≈ 4 (the x_θ''' term is small here); UniPC-3 measures 3.34 here and
// reaches the theorem's 4 only from ~160 steps on (3.80 at 80 → 160, 3.91 at 160 → 320).
const ORDER_CASES: { options: SampleOptions; steps: number; order: number; margin: number; atLeast?: boolean }[] = [
  { options: { sampler: 'dpmpp-2m' }, steps: 40, order: 2, margin: 0.3 },
  { options: { sampler: 'dpmpp-2s' }, steps: 20, order: 2, margin: 0.3 },
  { options: { sampler: 'dpmpp-3m' }, steps: 40, order: 3, margin: 0.3, atLeast: true },
  { options: { sampler: 'unipc-bh1', order: 1 }, steps: 40, order: 2, margin: 0.4 },
  { options: { sampler: 'unipc-bh1' }, steps: 40, order: 3, margin: 0.4 },
  { options: { sampler: 'unipc-bh2' }, steps: 40, order: 3, margin: 0.4 },
  { options: { sampler: 'unipc-bh2', order: 3 }, steps: 40, order: 3, margin: 0.3, atLeast: true },
  { options: { sampler: 'dpmpp-3m', denoiseFinal: false }, steps: 40, order: 3, margin: 0.3, atLeast: true },
  { options: { sampler: 'unipc-bh2', denoiseFinal: false }, steps: 40, order: 3, margin: 0.4 },
  { options: { sampler: 'dpmpp-2m', spacing: 'karras' }, steps: 40, order: 2, margin: 0.3 },
];

test('each solver converges to the exact ODE solution of Gaussian data at its order', (t) => {
  const spec = gaussianSpec(LINEAR);
  for (const c of ORDER_CASES) {
    const coarse = error(spec, { ...c.options, steps: c.steps });
    const fine = error(spec, { ...c.options, steps: 2 * c.steps });
    const observed = Math.log2(coarse / fine);
    const what = `${JSON.stringify(c.options)} ${c.steps} → ${2 * c.steps} steps: error ${coarse.toExponential(2)} → ${fine.toExponential(2)}, order ${observed.toFixed(2)}`;
    t.diagnostic(what);
    assert.ok(fine > 1e-6, `${what}: too close to the float floor to measure`);
    assert.ok(observed > c.order - c.margin && (c.atLeast === true || observed < c.order + c.margin), what);
  }
});

test('the σ clamp: the unclamped cosine log-SNR grid wastes steps above σ = 80', () => {
  // With σ(T−1) ≈ 1e4 a third of the log-SNR grid lies above 80, where D barely changes, so
  // the clamped run is more accurate for the same evaluations (and exact at the start: the ODE
  // solution from the clamped level is what the reference follows).
  const spec = gaussianSpec(COSINE);
  const clamped = error(spec, { sampler: 'dpmpp-3m', steps: 10, sigmaMax: 80 });
  const full = error(spec, { sampler: 'dpmpp-3m', steps: 10 });
  assert.ok(clamped < full, `clamped ${clamped} vs full ${full}`);
});

const PARAMETERIZATIONS = [ModelMeanType.EPSILON, ModelMeanType.START_X, ModelMeanType.VELOCITY];
// Timestep grids, so that the model is asked at integer timesteps, which the float32 timestep
// tensor holds exactly: then the model's level and the sampler's agree to the last bit and the
// parameterizations agree to float64 rounding, ~1e-16 amplified by up to 1/√ᾱ ≈ 1e4 at the cosine
// schedule's σ_max (measured ≤ 4e-12; bound 1e-9). (At fractional timesteps the model's ᾱ, read back
// from float32, differs from the sampler's by ~1e-7 relative, and ε ↔ x_0 conversions amplify
// that by up to 1/√ᾱ ≈ 1e4 on the cosine schedule: measured differences up to 2e-5.)
// DPM-Solver++(2S) visits fractional midpoints whatever the grid: it gets the looser bound.
const TRAJECTORY_RUNS: { options: SampleOptions; tol: number }[] = [
  { options: { sampler: 'dpmpp-3m', steps: 8, spacing: 'trailing' }, tol: 1e-9 },
  { options: { sampler: 'unipc-bh1', steps: 8, order: 3, spacing: 'linspace', sigmaMax: 80 }, tol: 1e-9 },
  { options: { sampler: 'unipc-bh2', steps: 8, spacing: 'trailing', sigmaMax: 80 }, tol: 1e-9 },
  { options: { sampler: 'dpmpp-2m', steps: 8, spacing: 'leading', denoiseFinal: false }, tol: 1e-9 },
  { options: { sampler: 'ddim', steps: 8, spacing: 'leading', denoiseFinal: false }, tol: 1e-9 },
  { options: { sampler: 'dpmpp-2s', steps: 5, spacing: 'trailing' }, tol: 1e-4 },
];

/** Every VP state of a run, flattened. */
function trajectory(spec: DiffusionModelSpec, options: SampleOptions): number[][] {
  const out: number[][] = [];
  for (const s of sampleProgressive(spec, Z.shape, { ...options, noise: Z })) {
    out.push(s.x.toArray());
    torch.dispose([s.x, s.x0]);
  }
  return out;
}

test('ε, x_0 and v models that are exact give the same trajectory, with and without guidance', () => {
  const y = torch.tensor(BigInt64Array.from({ length: Z.size(0) }, (_, i) => BigInt(i % 2)), { dtype: 'int64' });
  const guided: Partial<SampleOptions> = { modelKwargs: { y }, guidance: { kind: 'classifier-free', scale: 3, nullClass: NULL_CLASS } };
  for (const ac of [LINEAR, COSINE]) {
    for (const { options: run, tol } of TRAJECTORY_RUNS) {
      for (const extra of [{}, guided]) {
        const [first, ...others] = PARAMETERIZATIONS.map((m) => trajectory(gaussianSpec(ac, m), { ...run, ...extra }));
        for (const other of others) {
          const d = Math.max(...first!.map((xs, i) => Math.max(...xs.map((v, j) => Math.abs(v - other[i]![j]!)))));
          assert.ok(d < tol, `${JSON.stringify(run)}${extra === guided ? ' guided' : ''}: trajectories differ by ${d}`);
        }
      }
    }
  }
  y.dispose();
});

test('classifier-free guidance samples the guided Gaussian exactly (every new solver)', (t) => {
  // D is affine in μ, so ε_u + w (ε_c − ε_u) is the exact ε of N(μ_u + w (μ_c − μ_u), s² I).
  const w = 2.5;
  const labels = Array.from({ length: Z.size(0) }, (_, i) => i % 2);
  const y = torch.tensor(BigInt64Array.from(labels, (v) => BigInt(v)), { dtype: 'int64' });
  const muGuided = torch.tensor(
    labels.flatMap((c) => [0, 1].map((d) => MEANS[NULL_CLASS]![d]! + w * (MEANS[c]![d]! - MEANS[NULL_CLASS]![d]!))),
    { dtype: 'float64', shape: [labels.length, 2, 1, 1] },
  );
  const spec = gaussianSpec(LINEAR);
  for (const sampler of ['dpmpp-3m', 'dpmpp-2s', 'unipc-bh1', 'unipc-bh2'] as const) {
    const options = { sampler, steps: 20, modelKwargs: { y }, guidance: { kind: 'classifier-free' as const, scale: w, nullClass: NULL_CLASS } };
    const e = error(spec, options, muGuided);
    t.diagnostic(`${sampler} 20 steps, guided w = ${w}: error ${e.toExponential(2)}`);
    // Unguided, 20 steps of these solvers are within 2e-2 of the exact end (first test's
    // diagnostics); guidance moves the means by up to 2.75 but leaves the ODE's smoothness alone.
    assert.ok(e < 2e-2, `${sampler}: guided error ${e}`);
  }
  torch.dispose([y, muGuided]);
});

test("UniPC's predictor alone is DPM-Solver++(2M) at p = 2 and (3M) at p = 3", () => {
  // Two independent derivations: UniP-p's coefficients solve R a = b built from the φ-function
  // recursion of the UniPC code; 2M and 3M integrate the Taylor polynomial directly. With B(h) =
  // e^{−h} − 1, UniP-2's a_1 = 1/2 is exactly Algorithm 2's D_i, and UniP-3's solved system is
  // the exact quadratic integral — so this also checks 3M's c2 (docs/samplers.md).
  const spec = gaussianSpec(COSINE);
  const ctx = { spec, modelKwargs: {} };
  for (const [p, sampler] of [[2, 'dpmpp-2m'], [3, 'dpmpp-3m']] as const) {
    for (const grid of [{ steps: 12, sigmaMax: 80 }, { steps: 7, spacing: 'trailing' as const, denoiseFinal: false }]) {
      const a = runToEnd(uniPc(ctx, { ...grid, order: p, variant: 'bh2', disableCorrector: true }), Z);
      const b = sample(spec, Z.shape, { sampler, ...grid, noise: Z });
      // float64; the two formulas round differently: ~1e-16 relative, times the start scale √(1+σ_0²) ≤ 1e2.
      const d = torch.tidy(() => a.sub(b).abs().max().item());
      assert.ok(d < 1e-10, `UniP-${p} vs ${sampler} ${JSON.stringify(grid)}: ${d}`);
      torch.dispose([a, b]);
    }
  }
});
