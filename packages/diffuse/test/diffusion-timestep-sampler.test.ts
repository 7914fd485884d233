// Timestep samplers (improved-diffusion's resample.py): uniform, and the loss-second-moment
// importance sampler whose weights keep the loss estimate unbiased.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as torch from '@diffuse/torch';
import {
  createNamedScheduleSampler, isLossAware, LossSecondMomentResampler, UniformSampler, type LossSecondMomentState,
} from '../src/index.js';
import { assertClose } from './diffusion-helpers.js';

const T = 20;
const diffusion = { numTimesteps: T };
/** A per-timestep "loss" with a wide dynamic range. */
const lossAt = (t: number): number => 0.05 + (t % 7) * 0.3 + (t === 3 ? 5 : 0);

/** Feeds the sampler `rounds` full sweeps of noisy losses (deterministic). */
function warm(s: LossSecondMomentResampler, rounds: number): void {
  for (let r = 0; r < rounds; r++) {
    const ts = Array.from({ length: T }, (_, t) => t);
    s.updateWithLocalLosses(ts, ts.map((t) => lossAt(t) * (1 + 0.1 * Math.sin(r * 7 + t))));
  }
}

test('UniformSampler: int64 timesteps in range, unit float32 weights, seeded', () => {
  const s = new UniformSampler(diffusion);
  const a = s.sample(64, new torch.Generator({ seed: 5 }));
  const b = s.sample(64, new torch.Generator({ seed: 5 }));
  assert.equal(a.timesteps.dtype, 'int64');
  assert.equal(a.weights.dtype, 'float32');
  assert.deepEqual(a.timesteps.shape, [64]);
  assert.deepEqual(a.timesteps.toArray(), b.timesteps.toArray());
  assert.ok(a.timesteps.toArray().every((t) => t >= 0 && t < T));
  assert.deepEqual(a.weights.toArray(), new Array(64).fill(1));
  assert.equal(isLossAware(s), false);
  torch.dispose([a, b]);
});

test('LossSecondMomentResampler: uniform until every history is full, then p ∝ √E[L²] mixed with 0.001 uniform', () => {
  const s = new LossSecondMomentResampler(diffusion);
  assert.ok(isLossAware(s));
  warm(s, 9);
  assert.equal(s.warmedUp(), false);
  assert.deepEqual(Array.from(s.weights()), new Array(T).fill(1));
  s.updateWithLocalLosses([0, 1], [1, 1]);
  assert.equal(s.warmedUp(), false, 'one row short is not warmed up');
  warm(s, 1);
  assert.ok(s.warmedUp());
  // Closed form from the history: the last 10 losses fed at each t.
  const history = s.stateDict().lossHistory;
  const rms = history.map((h) => Math.sqrt(h.reduce((a, l) => a + l * l, 0) / h.length));
  const total = rms.reduce((a, b) => a + b, 0);
  assertClose(s.weights(), rms.map((r) => (r / total) * 0.999 + 0.001 / T), 'p', 1e-12);
  assertClose([s.weights().reduce((a, b) => a + b, 0)], [1], 'Σp', 1e-12);
});

test('the history keeps the last 10 losses per timestep, oldest first', () => {
  const s = new LossSecondMomentResampler(diffusion);
  for (let k = 0; k < 13; k++) s.updateWithLocalLosses(torch.tensor([4], { dtype: 'int64' }), torch.tensor([k]));
  const st = s.stateDict();
  assert.deepEqual(st.lossHistory[4], [3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  assert.equal(st.lossCounts[4], 10);
  assert.equal(st.lossCounts[5], 0);
});

test('importance weights are unbiased: E_p[w_t L_t] = mean_t L_t, exactly over p and by sampling', () => {
  const s = new LossSecondMomentResampler(diffusion);
  warm(s, 10);
  const L = Array.from({ length: T }, (_, t) => lossAt(t));
  const uniformMean = L.reduce((a, b) => a + b, 0) / T;
  // Exact enumeration: p from weights(), w_t as sample() returns it for each t.
  const w = s.weights();
  const p = Array.from(w, (v) => v / w.reduce((a, b) => a + b, 0));
  const draw = s.sample(4000, new torch.Generator({ seed: 11 }));
  const ts = draw.timesteps.toArray();
  const ws = draw.weights.toArray();
  const weightOf = new Map<number, number>();
  ts.forEach((t, i) => weightOf.set(t, ws[i]!));
  for (const [t, wt] of weightOf) assertClose([wt], [1 / (T * p[t]!)], `w_${t}`, 1e-6);
  assertClose([p.reduce((acc, pt, t) => acc + pt * (1 / (T * pt)) * L[t]!, 0)], [uniformMean], 'exact expectation', 1e-12);
  // Big sample: the sampled t follow p, so the weighted mean estimates the uniform mean.
  const big = s.sample(200_000, new torch.Generator({ seed: 12 }));
  const bt = big.timesteps.toArray();
  const bw = big.weights.toArray();
  const estimate = bt.reduce((acc, t, i) => acc + bw[i]! * L[t]!, 0) / bt.length;
  // Std of w·L under p is small (p ∝ L nearly zeroes the variance); allow 4 standard errors.
  const second = p.reduce((acc, pt, t) => acc + pt * ((L[t]! / (T * pt)) ** 2), 0);
  const se = Math.sqrt((second - uniformMean ** 2) / bt.length);
  assert.ok(Math.abs(estimate - uniformMean) < 4 * se + 1e-9, `estimate ${estimate} vs ${uniformMean} (se ${se})`);
  // Importance sampling prefers the timestep with the largest loss.
  const count3 = bt.filter((t) => t === 3).length / bt.length;
  assertClose([count3], [p[3]!], 'frequency of t = 3', 0.01);
  torch.dispose([draw, big]);
});

test('stateDict / loadStateDict round-trip through JSON and reproduce the same draws', () => {
  const s = new LossSecondMomentResampler(diffusion);
  warm(s, 12);
  const json = JSON.stringify(s.stateDict());
  const r = new LossSecondMomentResampler(diffusion);
  r.loadStateDict(JSON.parse(json) as LossSecondMomentState);
  assert.deepEqual(r.stateDict(), s.stateDict());
  assert.deepEqual(Array.from(r.weights()), Array.from(s.weights()));
  const a = s.sample(32, new torch.Generator({ seed: 1 }));
  const b = r.sample(32, new torch.Generator({ seed: 1 }));
  assert.deepEqual(a.timesteps.toArray(), b.timesteps.toArray());
  assert.throws(() => new LossSecondMomentResampler({ numTimesteps: 10 }).loadStateDict(s.stateDict()), /T=20/);
  torch.dispose([a, b]);
});

test('createNamedScheduleSampler', () => {
  assert.ok(createNamedScheduleSampler('uniform', diffusion) instanceof UniformSampler);
  assert.ok(createNamedScheduleSampler('loss-second-moment', diffusion) instanceof LossSecondMomentResampler);
  assert.throws(() => createNamedScheduleSampler('nope', diffusion), /unknown schedule sampler/);
});
