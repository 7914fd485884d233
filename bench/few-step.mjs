#!/usr/bin/env node
// The few-step table of docs/samplers.md and docs/distillation.md (a benchmark, not a test):
// progressive distillation of the shipped digits-cpu model to 16/8/4/2/1 DDIM steps, then for each
// student and for DDIM-50 and the best solvers at 10 and 15 evaluations: our digits FID (500
// samples, seed 1, against the held-out mnist:test), the confident-classifier share, and the
// seconds the 500 samples took. Everything runs through the real `diffuse` command.
//
//   flock /tmp/bench.lock node bench/few-step.mjs [--out DIR] [--phase-steps 150] [--teacher-steps 32]
//                                                [--skip-distill] [--skip-baselines] [--n 500]
//
// The machine is shared: the script prints `uptime` with every figure. DIFFUSE_THREADS (default 1)
// sets the threads of every command.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../packages/diffuse/bin/diffuse.js', import.meta.url));
const args = process.argv.slice(2);
const opt = (name, d) => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? d : args[i + 1];
};
const out = opt('out', '/tmp/few-step');
const phaseSteps = Number(opt('phase-steps', 150));
const teacherSteps = Number(opt('teacher-steps', 32));
const n = opt('n', '500'); // samples per row (fewer only to check the script runs)
const env = { ...process.env, DIFFUSE_THREADS: process.env.DIFFUSE_THREADS ?? '1' };

function diffuse(...a) {
  const r = spawnSync(process.execPath, [BIN, ...a], { encoding: 'utf8', env, maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`diffuse ${a.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}
const load = () => loadavg()[0].toFixed(2);

/** Samples 500 images with the flags, then scores them: FID, confident shares, seconds. */
function measure(name, flags) {
  const dir = path.join(out, 'samples', name);
  const t0 = performance.now();
  diffuse('sample', ...flags, '--n', n, '--seed', '1', '--batch-size', '100', '--out', dir);
  const seconds = (performance.now() - t0) / 1000;
  const r = JSON.parse(diffuse('fid', path.join(dir, 'samples.npz'), 'mnist:test', '--json'));
  return { name, fid: r.fid, confident: r.confident.a, confidentReal: r.confident.b, seconds, load: load() };
}

const rows = [];
const print = (r, nfe, extra = '') => console.log(`| ${r.name} | ${nfe} | ${r.fid.toFixed(2)} | ${(100 * r.confident).toFixed(1)} % | ${r.seconds.toFixed(1)} | ${r.load} | ${extra}`);
console.log(`digits-cpu, ${n} samples, seed 1, vs mnist:test (real digits: confident share of mnist:test shown once below); threads ${env.DIFFUSE_THREADS}\n`);
console.log(`| configuration | NFE | FID | confident | s / ${n} | load | note |\n|---|---|---|---|---|---|---|`);
if (!args.includes('--skip-baselines')) {
  for (const [name, nfe, flags] of [
    ['ddim-50', 50, ['--sampler', 'ddim', '--steps', '50']],
    ['dpmpp-3m-10 σ40 nofinal', 10, ['--sampler', 'dpmpp-3m', '--steps', '10', '--sigma-max', '40', '--denoise-final', 'false']],
    ['dpmpp-3m-15 σ40 nofinal', 15, ['--sampler', 'dpmpp-3m', '--steps', '15', '--sigma-max', '40', '--denoise-final', 'false']],
    ['unipc-bh2-8 σ80 nofinal', 8, ['--sampler', 'unipc-bh2', '--steps', '8', '--sigma-max', '80', '--denoise-final', 'false']],
    ['unipc-bh2-5 σ80 nofinal', 5, ['--sampler', 'unipc-bh2', '--steps', '5', '--sigma-max', '80', '--denoise-final', 'false']],
    ['ddim-4', 4, ['--sampler', 'ddim', '--steps', '4']],
  ]) {
    const r = measure(name, ['--checkpoint', 'digits-cpu', ...flags]);
    rows.push(r);
    print(r, nfe);
  }
}
const run = path.join(out, 'distill');
if (!args.includes('--skip-distill') && !existsSync(path.join(run, 'checkpoints'))) {
  const t0 = performance.now();
  diffuse('distill', '--checkpoint', 'digits-cpu', '--steps', '1', '--teacher-steps', String(teacherSteps), '--phase-steps', String(phaseSteps), '--log-interval', '25', '--seed', '0', '--out', run);
  console.log(`\n(distillation: ${((performance.now() - t0) / 60000).toFixed(1)} min wall, load ${load()})\n`);
}
if (existsSync(path.join(run, 'checkpoints'))) {
  const cfg = JSON.parse(readFileSync(path.join(run, 'config.json'), 'utf8'));
  const log = readFileSync(path.join(run, 'log.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  for (const p of cfg.distill.phases) {
    const dir = path.join(run, 'checkpoints', `step-${String(p.toStep).padStart(7, '0')}`);
    if (!existsSync(dir)) continue;
    const state = JSON.parse(readFileSync(path.join(dir, 'state.json'), 'utf8'));
    const r = measure(`student-${p.steps}`, ['--checkpoint', dir, '--steps', String(p.steps)]);
    const atEnd = log.filter((row) => row.step <= p.toStep).at(-1);
    print(r, p.steps, `distilled ${p.fromStep}→${p.toStep} steps; cumulative ${(state.seconds / 60).toFixed(1)} wall-min of the run; last logged loss ${atEnd?.loss?.toFixed(4) ?? '-'}`);
  }
}
