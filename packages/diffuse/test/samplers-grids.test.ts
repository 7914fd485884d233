// The step grids against hand-computed values: diffusers' timestep spacings (goldens from its
// formulas in numpy, below), the σ clamp on timesteps and on the continuous grids, and the two
// final-step choices.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ModelMeanType, ModelVarType } from '../src/diffusion/enums.js';
import { DiscreteSigmas, sample, samplerTimesteps, sigmaBounds, solverSigmas, timestepRange } from '../src/samplers/index.js';
import { cosineAlphasCumprod, linearAlphasCumprod } from './samplers-toy.js';

const close = (a: number, b: number, tol = 1e-12): boolean => Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));
const T = 1000;
const LINEAR = new DiscreteSigmas(linearAlphasCumprod(T));
const COSINE = new DiscreteSigmas(cosineAlphasCumprod(T));

// Generated with Debian's /usr/bin/python3 (numpy), diffusers' set_timesteps formulas for T = 1000:
//   linspace: np.linspace(0, T - 1, N).round()[::-1]
//   leading:  (np.arange(0, N) * (T // N)).round()[::-1]           (steps_offset = 0)
//   trailing: np.round(np.arange(T, 0, -T / N)).astype(np.int64) - 1
// linspace 7 has the ties 166.5, 499.5, 832.5, which numpy rounds to even.
const GOLDEN: Record<string, number[]> = {
  linspace3: [999, 500, 0],
  linspace7: [999, 832, 666, 500, 333, 166, 0],
  linspace30: [999, 965, 930, 896, 861, 827, 792, 758, 723, 689, 655, 620, 586, 551, 517, 482, 448, 413, 379, 344, 310, 276, 241, 207, 172, 138, 103, 69, 34, 0],
  leading3: [666, 333, 0],
  leading7: [852, 710, 568, 426, 284, 142, 0],
  leading30: [957, 924, 891, 858, 825, 792, 759, 726, 693, 660, 627, 594, 561, 528, 495, 462, 429, 396, 363, 330, 297, 264, 231, 198, 165, 132, 99, 66, 33, 0],
  trailing1: [999],
  trailing3: [999, 666, 332],
  trailing7: [999, 856, 713, 570, 428, 285, 142],
  trailing10: [999, 899, 799, 699, 599, 499, 399, 299, 199, 99],
  trailing30: [999, 966, 932, 899, 866, 832, 799, 766, 732, 699, 666, 632, 599, 566, 532, 499, 466, 432, 399, 366, 332, 299, 266, 232, 199, 166, 132, 99, 66, 32],
};

test("diffusers' timestep spacings: linspace, leading, trailing", () => {
  for (const [key, expected] of Object.entries(GOLDEN)) {
    const [, spacing, n] = /^([a-z]+)(\d+)$/.exec(key)!;
    const got = samplerTimesteps(T, Number(n), spacing as 'linspace' | 'leading' | 'trailing');
    assert.deepEqual(got, [...expected].reverse(), key); // ascending
  }
  // All T steps: every spacing is every timestep.
  for (const spacing of ['linspace', 'leading', 'trailing'] as const) {
    assert.deepEqual(samplerTimesteps(T, T, spacing), Array.from({ length: T }, (_, i) => i), spacing);
  }
  assert.throws(() => samplerTimesteps(T, 0, 'trailing'), /steps must be an integer in \[1, 1000\]/);
});

test('a σ clamp restricts the timesteps to the ones inside it, and the spacing to that range', () => {
  const [lo, hi] = timestepRange(COSINE.sigmas, 0.1, 80);
  // The range is exactly the timesteps with 0.1 ≤ σ_t ≤ 80.
  assert.ok(COSINE.sigmas[lo]! >= 0.1 && COSINE.sigmas[lo - 1]! < 0.1, `lo ${lo}`);
  assert.ok(COSINE.sigmas[hi]! <= 80 && COSINE.sigmas[hi + 1]! > 80, `hi ${hi}`);
  // On the cosine schedule only the last 9 timesteps lie above σ = 80 (they climb to ≈ 2e4): a
  // timestep grid hardly notices the clamp, a log-SNR grid spends a third of its levels there.
  assert.equal(hi, 990);
  // trailing over [lo, hi] is trailing over hi − lo + 1 timesteps, shifted by lo.
  const n = hi - lo + 1;
  assert.deepEqual(samplerTimesteps(T, 4, 'trailing', [lo, hi]), samplerTimesteps(n, 4, 'trailing').map((t) => t + lo));
  assert.equal(samplerTimesteps(T, 4, 'trailing', [lo, hi]).at(-1), hi);
  assert.deepEqual(timestepRange(COSINE.sigmas), [0, T - 1]);
  assert.throws(() => samplerTimesteps(T, 3, 'linspace', [5, 3]), /not inside/);
});

test('the continuous grids: clamped ends, their spacing, and the final-step choice', () => {
  for (const sched of [LINEAR, COSINE]) {
    // Default range: the model's own σ(T−1) … σ(0).
    const full = solverSigmas(sched, 6, {}, 'logsnr');
    assert.ok(close(full[0]!, sched.sigmaMax) && close(full[5]!, sched.sigmaMin) && full[6] === 0);
    // Clamped: σ_max = 80 (below the model's σ(T−1) on both schedules) and σ_min = 0.05.
    const clamp = { sigmaMax: 80, sigmaMin: 0.05 };
    for (const spacing of ['logsnr', 'karras', 'time'] as const) {
      const g = solverSigmas(sched, 6, { ...clamp, spacing }, 'logsnr');
      assert.equal(g.length, 7, spacing);
      assert.ok(close(g[0]!, 80, 1e-9) && close(g[5]!, 0.05, 1e-9) && g[6] === 0, `${spacing}: ${Array.from(g)}`);
      for (let i = 0; i < 6; i++) assert.ok(g[i]! > g[i + 1]!, `${spacing} decreases`);
      // Without the final denoise: N + 1 levels over the same range, ending at σ_min.
      const open = solverSigmas(sched, 6, { ...clamp, spacing, denoiseFinal: false }, 'logsnr');
      assert.equal(open.length, 7);
      assert.ok(close(open[0]!, 80, 1e-9) && close(open[6]!, 0.05, 1e-9), `${spacing} open: ${Array.from(open)}`);
    }
    // logsnr: λ = −log σ equally spaced; karras: σ^{1/ρ} equally spaced (eq. 5) — by hand.
    const l = solverSigmas(sched, 5, { ...clamp, spacing: 'logsnr' }, 'logsnr');
    const k = solverSigmas(sched, 5, { ...clamp, spacing: 'karras', rho: 7 }, 'logsnr');
    for (let i = 0; i < 5; i++) {
      assert.ok(close(l[i]!, Math.exp(Math.log(80) + (i / 4) * (Math.log(0.05) - Math.log(80))), 1e-12), `logsnr ${i}`);
      assert.ok(close(k[i]!, (80 ** (1 / 7) + (i / 4) * (0.05 ** (1 / 7) - 80 ** (1 / 7))) ** 7, 1e-12), `karras ${i}`);
    }
    // time: uniform in the fractional timestep between t(80) and t(0.05).
    const tm = solverSigmas(sched, 5, { ...clamp, spacing: 'time' }, 'logsnr');
    const t0 = sched.sigmaToT(80);
    const t1 = sched.sigmaToT(0.05);
    for (let i = 0; i < 5; i++) assert.ok(close(sched.sigmaToT(tm[i]!), t0 + (i / 4) * (t1 - t0), 1e-9), `time ${i}`);
  }
});

test('timestep spacings as σ grids: σ at the kept timesteps, then 0 or σ_lo', () => {
  const g = solverSigmas(LINEAR, 10, { spacing: 'trailing' }, 'logsnr');
  assert.deepEqual(Array.from(g), [...GOLDEN.trailing10!.map((t) => LINEAR.sigmas[t]!), 0]);
  const open = solverSigmas(LINEAR, 10, { spacing: 'trailing', denoiseFinal: false }, 'logsnr');
  assert.deepEqual(Array.from(open), [...GOLDEN.trailing10!.map((t) => LINEAR.sigmas[t]!), LINEAR.sigmaMin]);
  // linspace already ends at t = 0: without the final denoise the last step has zero length
  // (diffusers' final_sigmas_type = "sigma_min" does the same).
  const lin = solverSigmas(LINEAR, 4, { spacing: 'linspace', denoiseFinal: false }, 'logsnr');
  assert.equal(lin[3], lin[4]);
  // With a clamp the timesteps stay inside it.
  const c = solverSigmas(COSINE, 8, { spacing: 'leading', sigmaMax: 80 }, 'logsnr');
  assert.ok(c[0]! <= 80 && c[8] === 0, `${Array.from(c)}`);
});

test('bad clamps are refused', () => {
  assert.throws(() => sigmaBounds(LINEAR, { sigmaMin: 0 }), /sigmaMin must be a finite number > 0/);
  assert.throws(() => sigmaBounds(LINEAR, { sigmaMax: -1 }), /sigmaMax must be a finite number > 0/);
  assert.throws(() => sigmaBounds(LINEAR, { sigmaMin: 5, sigmaMax: 2 }), /clamp .* is empty/);
  assert.throws(() => sigmaBounds(LINEAR, { sigmaMin: 1e6 }), /clamp .* is empty/);
  // A clamp beyond the model's range is the model's range.
  assert.deepEqual(sigmaBounds(LINEAR, { sigmaMin: 1e-9, sigmaMax: 1e9 }), [LINEAR.sigmaMin, LINEAR.sigmaMax]);
  assert.throws(() => solverSigmas(LINEAR, 3, { spacing: 'bogus' as 'logsnr' }, 'logsnr'), /unknown spacing 'bogus'/);
  // Through sample(): DDIM checks the clamp too, and the timestep samplers refuse σ grids.
  const spec = { model: () => { throw new Error('not called'); }, alphasCumprod: linearAlphasCumprod(T), meanType: ModelMeanType.EPSILON, varType: ModelVarType.FIXED_SMALL, rescaleTimesteps: false };
  assert.throws(() => sample(spec, [1, 2, 1, 1], { sampler: 'ddim', sigmaMin: -1 }), /sigmaMin must be a finite number > 0/);
  assert.throws(() => sample(spec, [1, 2, 1, 1], { sampler: 'ddpm', spacing: 'karras' }), /ddpm visits training timesteps/);
  assert.throws(() => sample(spec, [1, 2, 1, 1], { sampler: 'unipc-bh2', order: 4 }), /order must be 1, 2 or 3/);
});
