// The samplers' bookkeeping against closed forms: timestep spacing (improved-diffusion's
// space_timesteps), the σ ↔ t map, the Karras and log-SNR grids, and the respaced posterior.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DiscreteSigmas,
  karrasSigmas,
  logSnrUniformSigmas,
  respacedPosterior,
  samplerTimesteps,
  timeUniformSigmas,
} from '../src/samplers/index.js';
import { cosineAlphasCumprod, linearAlphasCumprod } from './samplers-toy.js';

const close = (a: number, b: number, tol = 1e-9): boolean => Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));

test('timestep spacing follows improved-diffusion', () => {
  // space_timesteps(1000, "ddim50") = range(0, 1000, 20); "ddim10" of 1000 = range(0, 1000, 100).
  assert.deepEqual(samplerTimesteps(1000, 50, 'ddim'), Array.from({ length: 50 }, (_, i) => 20 * i));
  assert.deepEqual(samplerTimesteps(1000, 10, 'ddim'), Array.from({ length: 10 }, (_, i) => 100 * i));
  assert.throws(() => samplerTimesteps(100, 30, 'ddim'), /cannot create exactly/);
  // One section of N: round(i (T−1)/(N−1)), both ends kept.
  assert.deepEqual(samplerTimesteps(1000, 10), [0, 111, 222, 333, 444, 555, 666, 777, 888, 999]);
  assert.deepEqual(samplerTimesteps(10, 4), [0, 3, 6, 9]);
  assert.deepEqual(samplerTimesteps(1000, 1000), Array.from({ length: 1000 }, (_, i) => i));
  assert.deepEqual(samplerTimesteps(1000, 0, [900, 5, 300]), [5, 300, 900]);
  assert.throws(() => samplerTimesteps(1000, 0, [5, 5]), /twice/);
  assert.throws(() => samplerTimesteps(1000, 1001), /steps must be/);
});

test('σ ↔ t: discrete sigmas map to their timesteps, fractional ones interpolate log σ', () => {
  const ac = cosineAlphasCumprod(1000);
  const sched = new DiscreteSigmas(ac);
  for (const t of [0, 1, 17, 500, 998, 999]) {
    const sigma = Math.sqrt((1 - ac[t]!) / ac[t]!);
    assert.ok(close(sched.sigmaToT(sigma), t, 1e-9), `t = ${t}`);
    assert.ok(close(sched.tToSigma(t), sigma, 1e-12));
  }
  // Halfway in t is the geometric mean in σ.
  const mid = sched.tToSigma(10.5);
  assert.ok(close(mid, Math.sqrt(sched.sigmas[10]! * sched.sigmas[11]!), 1e-12));
  assert.ok(close(sched.sigmaToT(mid), 10.5, 1e-9));
  // Outside the range t clamps.
  assert.equal(sched.sigmaToT(sched.sigmaMin / 10), 0);
  assert.equal(sched.sigmaToT(sched.sigmaMax * 10), 999);
  assert.throws(() => new DiscreteSigmas(new Float64Array([0.9, 0.95])), /decrease/);
});

test('Karras, time-uniform and log-SNR grids', () => {
  // eq. 5 with ρ = 7: σ_i^{1/ρ} is linear in i, from σ_max to σ_min, then 0.
  const k = karrasSigmas(5, 0.002, 80, 7);
  assert.equal(k.length, 6);
  assert.ok(close(k[0]!, 80) && close(k[4]!, 0.002) && k[5] === 0);
  const root = Array.from(k.slice(0, 5), (s) => s ** (1 / 7));
  for (let i = 1; i < 4; i++) assert.ok(close(root[i + 1]! - root[i]!, root[1]! - root[0]!, 1e-9));
  const one = karrasSigmas(1, 0.1, 10);
  assert.ok(one.length === 2 && close(one[0]!, 10) && one[1] === 0);

  const sched = new DiscreteSigmas(linearAlphasCumprod(1000));
  const g = logSnrUniformSigmas(sched, 7);
  assert.ok(close(g[0]!, sched.sigmaMax) && close(g[6]!, sched.sigmaMin) && g[7] === 0);
  const lambda = Array.from(g.slice(0, 7), (s) => -Math.log(s));
  for (let i = 1; i < 6; i++) assert.ok(close(lambda[i + 1]! - lambda[i]!, lambda[1]! - lambda[0]!, 1e-9));
  const tu = timeUniformSigmas(sched, 4); // t = 999, 666, 333, 0
  [999, 666, 333, 0].forEach((t, i) => assert.ok(close(tu[i]!, sched.sigmas[t]!, 1e-12)));
});

test('the respaced posterior: full chain equals the schedule, respaced ᾱ are the kept ones', () => {
  const T = 1000;
  const ac = linearAlphasCumprod(T);
  const full = respacedPosterior(ac, Array.from({ length: T }, (_, i) => i));
  for (const t of [0, 1, 500, 999]) {
    // The linear schedule's own β_t and Ho et al. eq. 7.
    const beta = 1e-4 + ((0.02 - 1e-4) * t) / (T - 1);
    assert.ok(close(full.betas[t]!, beta, 1e-9), `β_${t}`);
    const prev = t > 0 ? ac[t - 1]! : 1;
    assert.ok(close(full.posteriorVariance[t]!, (beta * (1 - prev)) / (1 - ac[t]!), 1e-9));
    assert.ok(close(full.posteriorMeanCoef1[t]!, (beta * Math.sqrt(prev)) / (1 - ac[t]!), 1e-9));
    assert.ok(close(full.posteriorMeanCoef2[t]!, ((1 - prev) * Math.sqrt(1 - beta)) / (1 - ac[t]!), 1e-9));
  }
  assert.ok(close(full.posteriorLogVarianceClipped[0]!, Math.log(full.posteriorVariance[1]!)));
  // Respaced: ∏_{j ≤ k} (1 − β'_j) = ᾱ_{τ_k}, and the last step's mean is x̂_0 itself.
  const taus = samplerTimesteps(T, 25);
  const spaced = respacedPosterior(ac, taus);
  let prod = 1;
  taus.forEach((tau, i) => {
    prod *= 1 - spaced.betas[i]!;
    assert.ok(close(prod, ac[tau]!, 1e-9));
  });
  assert.ok(close(spaced.posteriorMeanCoef1[0]!, 1) && spaced.posteriorMeanCoef2[0] === 0);
});
