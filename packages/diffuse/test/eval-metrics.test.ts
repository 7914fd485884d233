// The sample-quality metrics against closed forms, numpy (golden/eval_frechet_gen.py) and
// constructed cases: FID (Fréchet distance), KID (unbiased MMD²), Inception Score, precision/recall.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';
import { featureStatistics, fid, frechetDistance, inceptionScore, kid, precisionRecall } from '../src/eval/index.js';

const f64 = (values: number[], shape?: number[]): Tensor => torch.tensor(Float64Array.from(values), { shape: shape ?? [values.length] });

/** Q diag(values) Qᵀ for an orthogonal Q (from the QR of a seeded Gaussian matrix). */
function withEigenvalues(values: number[], q: Tensor): Tensor {
  return torch.tidy(() => q.mul(f64(values)).matmul(q.t()));
}

function randomOrthogonal(d: number, seed: number): Tensor {
  return torch.tidy(() => {
    const a = torch.randn([d, d], { dtype: 'float64', generator: new torch.Generator({ seed }) });
    return torch.call<[Tensor, Tensor]>('aten::linalg_qr', [a, 'reduced'])[0];
  });
}

function close(actual: number, expected: number, rel: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= rel * Math.max(1, Math.abs(expected)), `${what}: ${actual} vs ${expected}`);
}

test('FID of commuting covariances equals ‖μ1−μ2‖² + Σ(√a_i − √b_i)² (diagonal and rotated)', () => {
  torch.tidy(() => {
    const a = [4, 1, 0.25, 9, 2];
    const b = [1, 1, 1, 0.5, 3];
    const mu1 = f64([0, 1, 2, 3, 4]);
    const mu2 = f64([1, 1, 0, 3, -1]);
    const expected = 1 + 0 + 4 + 0 + 25 + a.reduce((s, ai, i) => s + (Math.sqrt(ai) - Math.sqrt(b[i]!)) ** 2, 0);
    const diag = (v: number[]): Tensor => torch.callByName<Tensor>('aten::diag', [f64(v)]);
    close(frechetDistance(mu1, diag(a), mu2, diag(b)), expected, 1e-12, 'diagonal');
    const q = randomOrthogonal(5, 1);
    close(frechetDistance(mu1, withEigenvalues(a, q), mu2, withEigenvalues(b, q)), expected, 1e-10, 'rotated (commuting, not diagonal)');
  });
});

test('FID of non-commuting 2×2 covariances equals the closed form tr√A = √(tr A + 2√det A)', () => {
  torch.tidy(() => {
    const s1 = [2, 0.8, 0.8, 1];
    const s2 = [1, -0.3, -0.3, 0.5];
    // A = Σ1 Σ2, written out.
    const A = [s1[0]! * s2[0]! + s1[1]! * s2[2]!, s1[0]! * s2[1]! + s1[1]! * s2[3]!, s1[2]! * s2[0]! + s1[3]! * s2[2]!, s1[2]! * s2[1]! + s1[3]! * s2[3]!];
    const trSqrt = Math.sqrt(A[0]! + A[3]! + 2 * Math.sqrt(A[0]! * A[3]! - A[1]! * A[2]!));
    const expected = 0.5 ** 2 + 2 ** 2 + (2 + 1) + (1 + 0.5) - 2 * trSqrt;
    close(frechetDistance(f64([0, 0]), f64(s1, [2, 2]), f64([0.5, -2]), f64(s2, [2, 2])), expected, 1e-12, 'non-commuting 2×2');
  });
});

interface FrechetCase { name: string; d: number; mu1: number[]; sigma1: number[]; mu2: number[]; sigma2: number[]; fid: number }

test('FID agrees with numpy (eigenvalues of the non-symmetric product) on non-commuting and singular covariances', () => {
  const { cases } = JSON.parse(readFileSync(new URL('../../test/golden/eval_frechet.json', import.meta.url), 'utf8')) as { cases: FrechetCase[] };
  assert.equal(cases.length, 3);
  for (const c of cases) {
    const warnings: string[] = [];
    torch.tidy(() => {
      const value = frechetDistance(f64(c.mu1), f64(c.sigma1, [c.d, c.d]), f64(c.mu2), f64(c.sigma2, [c.d, c.d]), { onWarning: (m) => warnings.push(m) });
      close(value, c.fid, 1e-7, c.name);
    });
    // The rank-deficient case is computed exactly but flagged as biased; the others are silent.
    assert.equal(warnings.length > 0, c.name.startsWith('singular'), `${c.name}: warnings ${JSON.stringify(warnings)}`);
    if (c.name.startsWith('singular')) assert.match(warnings[0]!, /singular/);
  }
});

test('FID of singular commuting covariances follows the closed form; a non-PSD input is regularised with a warning', () => {
  torch.tidy(() => {
    const diag = (v: number[]): Tensor => torch.callByName<Tensor>('aten::diag', [f64(v)]);
    const warnings: string[] = [];
    const onWarning = (m: string): void => void warnings.push(m);
    const zero = f64([0, 0, 0]);
    close(frechetDistance(zero, diag([1, 0, 4]), zero, diag([0, 0, 1]), { onWarning }), 1 + 0 + 1, 1e-12, 'singular diagonal');
    assert.ok(warnings.some((w) => /singular/.test(w)));
    warnings.length = 0;
    // A "covariance" with eigenvalue −1: not PSD, so ε·I is added and the user is told.
    const value = frechetDistance(zero, diag([1, -1, 1]), zero, diag([1, 1, 1]), { onWarning, eps: 1e-6 });
    assert.ok(Number.isFinite(value));
    assert.ok(warnings.some((w) => /adding 0\.000001·I to both covariances/.test(w)), JSON.stringify(warnings));
  });
});

test('FID(A, A) ≈ 0, FID is symmetric, and featureStatistics matches numpy.cov conventions', () => {
  torch.tidy(() => {
    const g = new torch.Generator({ seed: 3 });
    const x = torch.randn([400, 8], { generator: g }).matmul(torch.randn([8, 8], { generator: g })); // correlated (400, 8)
    const y = torch.randn([300, 8], { generator: g }).add(0.3);
    assert.ok(Math.abs(fid(x, x)) < 1e-9, `FID(A, A) = ${fid(x, x)}`);
    close(fid(x, y), fid(y, x), 1e-9, 'symmetry');
    const { mu, sigma } = featureStatistics(x);
    const xs = x.to('float64');
    // Σ_ij = Σ_n (x_ni − μ_i)(x_nj − μ_j) / (N − 1), checked on one entry by hand.
    const col0 = xs.select(1, 0).toArray();
    const col3 = xs.select(1, 3).toArray();
    const m0 = col0.reduce((a, v) => a + v, 0) / 400;
    const m3 = col3.reduce((a, v) => a + v, 0) / 400;
    const c03 = col0.reduce((a, v, i) => a + (v - m0) * (col3[i]! - m3), 0) / 399;
    close(mu.select(0, 3).item(), m3, 1e-12, 'μ');
    close(sigma.select(0, 0).select(0, 3).item(), c03, 1e-10, 'Σ[0,3]');
  });
});

/** MMD² by its definition, with plain loops: the reference for the estimator. */
function mmd2Loops(x: number[][], y: number[][], k: (a: number[], b: number[]) => number): number {
  const m = x.length;
  let sxx = 0;
  let syy = 0;
  let sxy = 0;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < m; j++) {
      if (i !== j) {
        sxx += k(x[i]!, x[j]!);
        syy += k(y[i]!, y[j]!);
      }
      sxy += k(x[i]!, y[j]!);
    }
  }
  return sxx / (m * (m - 1)) + syy / (m * (m - 1)) - (2 * sxy) / (m * m);
}

test('KID: one full-size subset equals the unbiased MMD² written out with loops (polynomial kernel)', () => {
  torch.tidy(() => {
    const g = new torch.Generator({ seed: 5 });
    const x = torch.randn([40, 6], { generator: g, dtype: 'float64' });
    const y = torch.randn([40, 6], { generator: g, dtype: 'float64' }).mul(1.3).add(0.2);
    const k = (a: number[], b: number[]): number => (a.reduce((s, v, i) => s + v * b[i]!, 0) / 6 + 1) ** 3;
    const expected = mmd2Loops(x.toNested() as number[][], y.toNested() as number[][], k);
    const r = kid(x, y, { subsets: 3, subsetSize: 1000 });
    assert.equal(r.subsetSize, 40);
    // A subset of every point is a permutation, and the estimator does not depend on the order.
    for (const v of r.values) close(v, expected, 1e-10, 'KID subset');
    assert.ok(r.std < 1e-10);
  });
});

/** Mean and standard error of KID over fresh samples from the generator. */
function kidOverSeeds(draw: (g: torch.Generator) => [Tensor, Tensor], seeds: number, m: number): { mean: number; se: number; biasedMean: number } {
  const values: number[] = [];
  const biased: number[] = [];
  for (let s = 0; s < seeds; s++) {
    torch.tidy(() => {
      const [x, y] = draw(new torch.Generator({ seed: 1000 + s }));
      const est = kid(x, y, { subsets: 1, subsetSize: m, seed: s });
      values.push(est.mean);
      // The V-statistic (diagonal kept) — biased upwards; the test must tell them apart.
      const d = x.shape[1]!;
      const kern = (a: Tensor, b: Tensor): Tensor => a.matmul(b.t()).div(d).add(1).pow(3);
      biased.push(kern(x, x).mean().item() + kern(y, y).mean().item() - 2 * kern(x, y).mean().item());
    });
  }
  const mean = values.reduce((a, v) => a + v, 0) / seeds;
  const sd = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (seeds - 1));
  return { mean, se: sd / Math.sqrt(seeds), biasedMean: biased.reduce((a, v) => a + v, 0) / seeds };
}

test('KID is unbiased: for two samples of one distribution its mean over seeds is 0 within 3 standard errors', () => {
  const r = kidOverSeeds((g) => [torch.randn([50, 4], { generator: g, dtype: 'float64' }), torch.randn([50, 4], { generator: g, dtype: 'float64' })], 300, 50);
  assert.ok(Math.abs(r.mean) < 3 * r.se, `mean ${r.mean} ± ${r.se}`);
  // The biased V-statistic, on the same draws, is far above zero: the check has teeth.
  assert.ok(r.biasedMean > 10 * r.se, `biased mean ${r.biasedMean} vs se ${r.se}`);
});

test('KID matches the known MMD² of N(0,1) vs N(½,1) under k(x,y) = (xy + 1)³', () => {
  // (xy + 1)³ = x³y³ + 3x²y² + 3xy + 1, so MMD² = (m3 − m3')² + 3(m2 − m2')² + 3(m1 − m1')² with
  // the raw moments of N(μ, 1): m1 = μ, m2 = μ² + 1, m3 = μ³ + 3μ.
  const mu = 0.5;
  const expected = (mu ** 3 + 3 * mu) ** 2 + 3 * (mu ** 2) ** 2 + 3 * mu ** 2;
  const r = kidOverSeeds((g) => [torch.randn([150, 1], { generator: g, dtype: 'float64' }), torch.randn([150, 1], { generator: g, dtype: 'float64' }).add(mu)], 200, 200);
  assert.ok(Math.abs(r.mean - expected) < 3 * r.se, `mean ${r.mean} ± ${r.se}, expected ${expected}`);
  assert.ok(r.se < 0.05 * expected, `standard error ${r.se} too large to test anything`);
});

test('Inception Score: uniform predictions give 1, confident balanced ones give K, a two-class case its closed form', () => {
  torch.tidy(() => {
    close(inceptionScore(torch.zeros([100, 7])).mean, 1, 1e-12, 'uniform');
    const k = 10;
    const labels = torch.arange(0, 1000, 1, { dtype: 'int64' }).remainder(k);
    const logits = torch.oneHot(labels, k).to('float64').mul(60); // (1000, 10), classes in turn
    // In order, each of the 10 splits holds every class 10 times: IS = K exactly in each.
    const r = inceptionScore(logits, { seed: null });
    close(r.mean, k, 1e-9, 'confident balanced');
    assert.equal(r.values.length, 10);
    assert.ok(r.std < 1e-9);
    // Sorted by class, in-order splits hold one class each (IS 1); the default shuffle mixes them.
    const sorted = torch.oneHot(torch.arange(0, 1000, 1, { dtype: 'int64' }).div(100, 'floor'), k).to('float64').mul(60);
    close(inceptionScore(sorted, { seed: null }).mean, 1, 1e-9, 'class-sorted, in order');
    const shuffled = inceptionScore(sorted);
    assert.ok(shuffled.mean > 8.5 && shuffled.mean < k + 1e-9, `class-sorted, shuffled: ${shuffled.mean}`);
    // p(y|x) = (0.9, 0.1) or (0.1, 0.9), half each: KL = 0.9 ln 1.8 + 0.1 ln 0.2.
    const logit = Math.log(9);
    const two = torch.tensor(Float64Array.from({ length: 400 }, (_, j) => ((j >> 1) % 2 === j % 2 ? logit : 0)), { shape: [200, 2] });
    close(inceptionScore(two, { splits: 1 }).mean, Math.exp(0.9 * Math.log(1.8) + 0.1 * Math.log(0.2)), 1e-12, 'two classes');
  });
});

test('precision/recall: identical sets 1/1, far-apart sets 0/0, a prefix of points on a line its hand-counted values', () => {
  torch.tidy(() => {
    const g = new torch.Generator({ seed: 9 });
    const x = torch.randn([200, 5], { generator: g });
    assert.deepEqual(precisionRecall(x, x), { precision: 1, recall: 1 });
    assert.deepEqual(precisionRecall(x, x.add(100)), { precision: 0, recall: 0 });
    // Real points 0..N−1 on a line, fake = the first M of them (k = 3). Every fake point is a
    // real point: precision 1. A fake point's 3rd neighbour among 0..M−1 is 2 away inside and 3
    // at the ends, so the balls cover [−3, M + 2]: reals 0..M+2, recall (M + 3)/N.
    const n = 50;
    const m = 20;
    const line = (count: number): Tensor => torch.arange(0, count, 1, { dtype: 'float64' }).unsqueeze(1).mul(torch.tensor([1, 0, 0], { dtype: 'float64' }));
    const pr = precisionRecall(line(n), line(m));
    assert.equal(pr.precision, 1);
    close(pr.recall, (m + 3) / n, 1e-15, 'recall');
    // And reversed roles: the real manifold is the prefix, so fakes up to M+2 count.
    const rp = precisionRecall(line(m), line(n));
    close(rp.precision, (m + 3) / n, 1e-15, 'precision');
    assert.equal(rp.recall, 1);
  });
});
