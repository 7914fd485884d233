// Progressive distillation's formulas against hand computations: on Gaussian data the exact
// denoiser is linear, x̂(z_t) = α_t s² z_t / (α_t² s² + σ_t²), so two DDIM steps and the student
// target x̃ are scalar multiples of z_t computed here in float64; one student DDIM step with x̃
// lands on the teacher's two; the grids halve as the paper's t = i/N; the weights are max(SNR, 1)
// and SNR + 1.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';

import { ModelMeanType, ModelVarType } from '../src/diffusion/enums.js';
import { ddimStep, twoStepTarget, type Level } from '../src/distill/target.js';
import { distillWeight } from '../src/distill/weighting.js';
import { distillPhases, halveGrid, phaseLrFactor } from '../src/distill/schedule.js';
import { progressiveDistillationLoss } from '../src/distill/progressive.js';
import type { DiffusionModelSpec } from '../src/samplers/denoiser.js';
import { AUTO_TABLES, autoModelKind, autoSampler, type AutoModelKind } from '../src/samplers/auto.js';

torch.setNumThreads(1);

const S2 = 0.25; // data variance s²
/** The exact denoiser gain of Gaussian data: x̂ = g z. */
const gain = (ab: number): number => (Math.sqrt(ab) * S2) / (ab * S2 + (1 - ab));
/** One DDIM step's gain z_s = c z_t with the exact x̂. */
const ddimGain = (abT: number, abS: number): number => Math.sqrt(abS) * gain(abT) + Math.sqrt((1 - abS) / (1 - abT)) * (1 - Math.sqrt(abT) * gain(abT));

function level(ab: number, b: number): Level {
  return { alpha: torch.full([b, 1, 1, 1], Math.sqrt(ab)), sigma: torch.full([b, 1, 1, 1], Math.sqrt(1 - ab)) };
}

const maxAbs = (a: Tensor, b: Tensor): number => torch.tidy(() => a.sub(b).abs().max().item());

test('Gaussian data: two exact DDIM steps and x̃ equal the hand-computed gains; one DDIM step with x̃ lands on them', () => {
  torch.tidy(() => {
    const [abT, abMid, abEnd] = [0.2, 0.5, 0.9];
    const z = torch.randn([16, 1, 4, 4], { generator: new torch.Generator({ seed: 3 }) }); // (16, 1, 4, 4)
    const [t, mid, end] = [level(abT, 16), level(abMid, 16), level(abEnd, 16)];
    const zMid = ddimStep(z, z.mul(gain(abT)), t, mid);
    const zEnd = ddimStep(zMid, zMid.mul(gain(abMid)), mid, end);
    const c2 = ddimGain(abT, abMid) * ddimGain(abMid, abEnd);
    assert.ok(maxAbs(zEnd, z.mul(c2)) < 1e-5, 'two DDIM steps');
    // x̃ = (z'' − (σ''/σ) z) / (α'' − (σ''/σ) α) with z'' = c₂ z.
    const ratio = Math.sqrt((1 - abEnd) / (1 - abT));
    const k = (c2 - ratio) / (Math.sqrt(abEnd) - ratio * Math.sqrt(abT));
    const target = twoStepTarget(z, zEnd, t, end);
    assert.ok(maxAbs(target, z.mul(k)) < 1e-5, 'x̃');
    assert.ok(maxAbs(ddimStep(z, target, t, end), zEnd) < 1e-5, 'one student step reproduces the teacher’s two');
    // Into the clean image (ᾱ = 1): x̃ is the teacher's last x̂.
    const clean = level(1, 16);
    const zClean = ddimStep(zMid, zMid.mul(gain(abMid)), mid, clean);
    assert.ok(maxAbs(twoStepTarget(z, zClean, t, clean), zMid.mul(gain(abMid))) < 1e-6);
  });
});

test('the loss of a student that is the exact Gaussian denoiser is w · mean((k − g_t)² z_t²) for the drawn z_t', () => {
  // A 4-step schedule; the teacher and the student are both the exact ε of Gaussian data.
  const alphasCumprod = Float64Array.from([0.95, 0.7, 0.4, 0.1]);
  const exactEps = (x: Tensor, t: Tensor): Tensor =>
    torch.tidy(() => {
      const ab = torch.tensor(Array.from(t.toArray(), (v) => alphasCumprod[Math.round(Number(v))]!)).view([-1, 1, 1, 1]); // (B, 1, 1, 1)
      const g = ab.sqrt().mul(S2).div(ab.mul(S2).add(ab.rsub(1))); // (B, 1, 1, 1)
      return x.sub(x.mul(g).mul(ab.sqrt())).div(ab.rsub(1).sqrt()); // ε̂ = (z − α x̂)/σ
    });
  const spec: DiffusionModelSpec = { model: exactEps, alphasCumprod, meanType: ModelMeanType.EPSILON, varType: ModelVarType.FIXED_SMALL, rescaleTimesteps: false, clipDenoised: false };
  const x0 = torch.randn([8, 1, 2, 2], { generator: new torch.Generator({ seed: 5 }) }).mul(Math.sqrt(S2)); // (8, 1, 2, 2)
  torch.manualSeed(11);
  // Teacher grid [1, 3]: one student step t = 3 → clean, through t' = 1.
  const { loss, timesteps } = progressiveDistillationLoss(spec, exactEps, [1, 3], x0, {}, 'truncated-snr');
  // The same draws again: j (all 0 here), then ε.
  torch.manualSeed(11);
  torch.randint(0, 1, [8]).dispose();
  const eps = torch.randnLike(x0);
  const [abT, abMid] = [alphasCumprod[3]!, alphasCumprod[1]!];
  const k = ddimGain(abT, abMid) * gain(abMid); // x̃ = x̂_teacher(z_t') = g' c₁ z_t
  const zt = x0.mul(Math.sqrt(abT)).add(eps.mul(Math.sqrt(1 - abT)));
  const w = Math.max(abT / (1 - abT), 1);
  const expected = zt.square().flatten(1).mean(1).mul(w * (k - gain(abT)) ** 2); // (8,)
  assert.deepEqual(Array.from(timesteps.toArray(), Number), new Array(8).fill(3));
  assert.ok(maxAbs(loss, expected) < 1e-6 * Math.max(1, expected.max().item()), `loss ${loss.toArray()} vs ${expected.toArray()}`);
  torch.dispose([loss, timesteps, x0, eps, zt, expected]);
});

test('grids halve keeping the top level; phases; bad counts', () => {
  assert.deepEqual(halveGrid([0, 10, 20, 30, 40, 50, 60, 70]), [10, 30, 50, 70]);
  assert.deepEqual(halveGrid([10, 30, 50, 70]), [30, 70]);
  assert.deepEqual(halveGrid([30, 70]), [70]);
  assert.throws(() => halveGrid([1, 2, 3]), RangeError);
  const phases = distillPhases(1000, 16, 4, 100);
  assert.deepEqual(phases.map((p) => [p.steps, p.fromStep, p.toStep]), [[8, 0, 100], [4, 100, 200]]);
  assert.equal(phases[1]!.timesteps.at(-1), 999); // the top level stays
  assert.throws(() => distillPhases(1000, 12, 4, 100), /power of two/);
  assert.throws(() => distillPhases(1000, 4, 4, 100), /power of two/);
});

test('per-phase learning rate: linear from 1 to 1/n in each phase, back to 1 at the next; constant stays 1', () => {
  const phases = distillPhases(1000, 16, 4, 100); // phases (0, 100] and (100, 200]
  const linear = (step: number): number => phaseLrFactor(phases, step, 'linear');
  assert.deepEqual([0, 50, 100, 150].map(linear), [1, 0.5, 1, 0.5]);
  for (const last of [99, 199]) assert.ok(Math.abs(linear(last) - 0.01) < 1e-12, 'the last step of a phase trains at 1/100');
  for (const step of [0, 50, 99, 100, 199]) assert.equal(phaseLrFactor(phases, step, 'constant'), 1);
});

test('weights: max(SNR, 1) and SNR + 1', () => {
  const ab = torch.tensor([0.2, 0.5, 0.8], { dtype: 'float64' }); // SNR 0.25, 1, 4
  assert.deepEqual(Array.from(distillWeight(ab, 'truncated-snr').toArray(), Number).map((v) => +v.toFixed(12)), [1, 1, 4]);
  assert.deepEqual(Array.from(distillWeight(ab, 'snr+1').toArray(), Number).map((v) => +v.toFixed(12)), [1.25, 2, 5]);
  ab.dispose();
});

test('auto: within every budget the lowest measured FID of its model kind, never more evaluations than the budget', () => {
  for (const kind of ['v', 'epsilon'] as AutoModelKind[]) {
    const configs = AUTO_TABLES[kind].configs;
    let lastFid = Infinity;
    for (let budget = 1; budget <= 60; budget++) {
      const { options, measured, table } = autoSampler(budget, kind);
      assert.equal(table, AUTO_TABLES[kind]);
      if (measured === null) {
        assert.ok(budget < configs[0]!.nfe);
        assert.equal(options.steps, budget);
        continue;
      }
      assert.ok(measured.nfe <= budget);
      assert.equal(measured.fid, Math.min(...configs.filter((c) => c.nfe <= budget).map((c) => c.fid)));
      assert.ok(measured.fid <= lastFid, 'a bigger budget never picks a worse configuration');
      lastFid = measured.fid;
    }
  }
  assert.deepEqual(autoSampler(8).options, { sampler: 'unipc-bh2', steps: 8, sigmaMax: 80, denoiseFinal: false });
  assert.deepEqual(autoSampler(12).options, { sampler: 'unipc-bh1', steps: 10, sigmaMax: 80, denoiseFinal: false, order: 3 });
  // ε-models: UniPC, not 3M (docs/samplers.md, the ref-28-style grid).
  assert.deepEqual(autoSampler(10, 'epsilon').options, { sampler: 'unipc-bh1', steps: 10, sigmaMax: 80, denoiseFinal: false });
  assert.equal(autoModelKind('epsilon'), 'epsilon');
  assert.equal(autoModelKind('v'), 'v');
  assert.equal(autoModelKind('start_x'), 'v');
  assert.throws(() => autoSampler(0), RangeError);
});
