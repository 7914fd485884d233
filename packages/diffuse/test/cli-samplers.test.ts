// `diffuse sample` with the few-step solvers and grids: the flags reach the sampler (a short run
// on the shipped model), and every bad value is one stderr line, exit code 2, nothing written.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';

import { assertUserError, diffuse } from './cli-helpers.js';
import { tempDir } from './io-helpers.js';

const { dir: work, cleanup } = tempDir('cli-samplers');
after(cleanup);

const sample = (out: string, ...flags: string[]) => diffuse('sample', '--checkpoint', 'digits-cpu', '--out', path.join(work, out), '--n', '2', ...flags);

test('the new samplers and grid flags run from the command line', () => {
  const runs: string[][] = [
    ['--sampler', 'dpmpp-3m', '--steps', '4', '--sigma-max', '80'],
    ['--sampler', 'unipc-bh1', '--steps', '3', '--order', '3', '--spacing', 'trailing'],
    ['--sampler', 'dpmpp-2s', '--steps', '2', '--spacing', 'karras', '--sigma-min', '0.02', '--denoise-final', 'false'],
    ['--sampler', 'ddim', '--steps', '3', '--spacing', 'leading', '--denoise-final=false'],
  ];
  runs.forEach((flags, i) => {
    const r = sample(`ok${i}`, ...flags);
    assert.equal(r.code, 0, `${flags.join(' ')}: ${r.stderr}`);
    assert.ok(existsSync(path.join(work, `ok${i}`, 'samples.npz')), flags.join(' '));
  });
  const help = diffuse('sample', '--help');
  for (const flag of ['--spacing', '--sigma-max', '--sigma-min', '--denoise-final', '--order', 'unipc-bh2', 'dpmpp-3m', 'trailing']) {
    assert.match(help.stdout, new RegExp(flag), flag);
  }
});

test('bad sampler flags: one line, exit 2, nothing written', () => {
  const cases: [string[], RegExp][] = [
    [['--sampler', 'dpmpp-4m'], /--sampler: must be one of ddpm, ddim, dpmpp-2m, dpmpp-3m, dpmpp-2s, unipc-bh1, unipc-bh2, euler, heun, auto; got 'dpmpp-4m'/],
    [['--sampler', 'unipc-bh2', '--spacing', 'uniformish'], /--spacing: must be one of logsnr, karras, time, uniform, ddim, linspace, leading, trailing; got 'uniformish'/],
    [['--sampler', 'ddim', '--spacing', 'logsnr'], /--spacing logsnr: ddim visits training timesteps; use one of uniform, ddim, linspace, leading, trailing/],
    [['--sigma-max', 'lots'], /--sigma-max: expected a number, got 'lots'/],
    [['--sigma-max', '0'], /--sigma-max: must be a noise level > 0, got 0/],
    [['--sigma-min', '-0.1'], /--sigma-min: must be a noise level > 0, got -0.1/],
    [['--sigma-min', '5', '--sigma-max', '1'], /--sigma-min 5 must be below --sigma-max 1/],
    [['--sampler', 'dpmpp-3m', '--sigma-min', '1e9'], /--sigma-min\/--sigma-max: the σ clamp .* is empty \(the model's σ run from .* to .*\)/],
    [['--sampler', 'ddpm', '--sigma-max', '80'], /do not apply to ddpm/],
    [['--denoise-final=maybe'], /--denoise-final: expected true or false, got 'maybe'/],
    [['--sampler', 'unipc-bh1', '--order', '4'], /--order: must be at most 3, got 4/],
    [['--sampler', 'dpmpp-3m', '--order', '2'], /--order applies to unipc-bh1 and unipc-bh2, not dpmpp-3m/],
    [['--sampler', 'dpmpp-3m', '--steps', '2.5'], /--steps: expected an integer, got '2.5'/],
  ];
  cases.forEach(([flags, re], i) => {
    assertUserError(sample(`bad${i}`, ...flags), re);
    assert.ok(!existsSync(path.join(work, `bad${i}`)), `${flags.join(' ')}: nothing written`);
  });
});
