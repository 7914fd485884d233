// Schedules and tables: against the float64 reference (golden/diffusion.py) and against closed
// forms that do not depend on how the schedule is computed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  alphasCumprodOf, betasForAlphaBar, computeDiffusionTables, getNamedBetaSchedule, rescaleZeroTerminalSnr, userBetas,
  type BetaScheduleName,
} from '../src/index.js';
import { assertClose, golden } from './diffusion-helpers.js';

const NAMES: BetaScheduleName[] = ['linear', 'cosine', 'quadratic', 'sigmoid'];

test('named schedules match the reference at T = 10 and 50', () => {
  for (const name of NAMES) {
    for (const T of ['10', '50']) assertClose(getNamedBetaSchedule(name, Number(T)), golden().schedules[name]![T]!, `${name}${T}`, 1e-12);
  }
  assert.throws(() => getNamedBetaSchedule('nope', 10), /unknown beta schedule/);
});

test('linear: Ho et al.\'s range scaled by 1000/T, constant increments', () => {
  const T = 1000;
  const b = getNamedBetaSchedule('linear', T);
  assert.equal(b[0], 0.0001);
  assert.equal(b[T - 1], 0.02);
  for (let i = 1; i < T; i++) assert.ok(Math.abs(b[i]! - b[i - 1]! - (0.02 - 0.0001) / (T - 1)) < 1e-15);
  const b250 = getNamedBetaSchedule('linear', 250);
  assert.ok(Math.abs(b250[0]! - 0.0004) < 1e-18 && Math.abs(b250[249]! - 0.08) < 1e-16);
});

test('cosine: ᾱ_t follows cos²((t/T + s)/(1 + s) · π/2) / f(0) where β is not clipped', () => {
  const T = 1000;
  const f = (u: number): number => Math.cos(((u + 0.008) / 1.008) * Math.PI / 2) ** 2;
  const ab = alphasCumprodOf(getNamedBetaSchedule('cosine', T));
  for (const i of [0, 10, 250, 500, 900, 990]) assertClose([ab[i]!], [f((i + 1) / T) / f(0)], `ᾱ_${i}`, 1e-9);
  const b = getNamedBetaSchedule('cosine', T);
  assert.equal(b[T - 1], 0.999, 'the last β is clipped at 0.999');
  assert.ok(b.every((v) => v > 0 && v <= 0.999));
  // betasForAlphaBar with a linear ᾱ(t) = 1 − t gives β_i = 1/(T − i), clipped.
  const lin = betasForAlphaBar(4, (u) => 1 - u, 0.9);
  assertClose(lin, [1 / 4, 1 / 3, 1 / 2, 0.9], 'betasForAlphaBar', 1e-15);
});

test('quadratic: √β is linear; sigmoid: logit of the normalized β is linspace(−6, 6)', () => {
  const T = 1000;
  const q = getNamedBetaSchedule('quadratic', T);
  const r = Array.from(q, Math.sqrt);
  assertClose([r[0]!, r[T - 1]!], [Math.sqrt(0.0001), Math.sqrt(0.02)], 'quadratic ends', 1e-12);
  for (let i = 1; i < T; i++) assertClose([r[i]! - r[i - 1]!], [(Math.sqrt(0.02) - Math.sqrt(0.0001)) / (T - 1)], `Δ√β_${i}`, 1e-12);
  const s = getNamedBetaSchedule('sigmoid', T);
  for (const i of [0, 100, 499, 500, 999]) {
    const y = (s[i]! - 0.0001) / (0.02 - 0.0001);
    assertClose([Math.log(y / (1 - y))], [-6 + (12 * i) / (T - 1)], `logit_${i}`, 1e-7);
  }
});

test('zero terminal SNR (Lin et al. 2023): matches Algorithm 1; ᾱ_T = 0, ᾱ_1 kept, √ᾱ an affine map of the old one', () => {
  for (const [key, name] of [['cosine50', 'cosine'], ['linear50', 'linear']] as const) {
    const before = getNamedBetaSchedule(name, 50);
    const after = rescaleZeroTerminalSnr(before);
    assertClose(after, golden().zeroSnr[key]!, key, 1e-10);
    const s0 = alphasCumprodOf(before).map(Math.sqrt);
    const s1 = alphasCumprodOf(after).map(Math.sqrt);
    assert.equal(after[49], 1, 'the last β is 1');
    assert.ok(Math.abs(s1[49]!) < 1e-12, 'terminal √ᾱ is 0');
    assertClose([s1[0]!], [s0[0]!], 'first √ᾱ unchanged', 1e-12);
    const k = s0[0]! / (s0[0]! - s0[49]!);
    for (let i = 0; i < 50; i++) assertClose([s1[i]!], [(s0[i]! - s0[49]!) * k], `√ᾱ_${i}`, 1e-12);
  }
});

test('user betas are validated', () => {
  assertClose(userBetas([0.1, 0.2]), [0.1, 0.2], 'copy');
  assert.throws(() => userBetas([0.1, 0]), /\(0, 1\]/);
  assert.throws(() => userBetas([1.5]), /\(0, 1\]/);
  assert.throws(() => userBetas([]), /empty/);
});

test('the precomputed tables match improved-diffusion\'s __init__ (linear, T = 100)', () => {
  const tables = computeDiffusionTables(getNamedBetaSchedule('linear', 100));
  for (const [name, expected] of Object.entries(golden().tables)) {
    assertClose(tables[name as keyof typeof tables], expected, name, 1e-12);
  }
  // Closed forms: the posterior variance is β̃ = β(1 − ᾱ_{t−1})/(1 − ᾱ_t), 0 at t = 0.
  assert.equal(tables.posteriorVariance[0], 0);
  assert.equal(tables.posteriorLogVarianceClipped[0], Math.log(tables.posteriorVariance[1]!));
  assert.equal(tables.fixedLargeVariance[0], tables.posteriorVariance[1]);
  assert.equal(tables.fixedLargeVariance[5], tables.betas[5]);
});
