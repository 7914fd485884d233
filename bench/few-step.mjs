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
// Grid mode: every solver × a list of evaluation budgets on one checkpoint, each solver in its
// best-measured configuration (SOLVERS below); writes DIR/grid-LABEL.json and prints the table.
//
//   flock /tmp/bench.lock node bench/few-step.mjs --grid [--checkpoint digits-cpu] [--label NAME]
//       [--nfe 5,8,10,15,20,50] [--solvers ddim,dpmpp-2m,…] [--n 500] [--out DIR]
//
// A cell whose solver takes two evaluations a step (heun, dpmpp-2s) gets the most steps whose
// evaluations fit the column and records the exact count.
//
// The machine is shared: the script prints `uptime` with every figure. DIFFUSE_THREADS (default 1)
// sets the threads of every command.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
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

/** Runs the CLI under /usr/bin/time (its CPU seconds, user + sys, land in `cpu`); returns stdout. */
function diffuse(...a) {
  const r = spawnSync('/usr/bin/time', ['-f', 'cpu %U %S', process.execPath, BIN, ...a], { encoding: 'utf8', env, maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`diffuse ${a.join(' ')} failed (${r.status}): ${r.stderr}`);
  const t = /cpu ([\d.]+) ([\d.]+)\s*$/.exec(r.stderr);
  diffuse.cpu = t ? Number(t[1]) + Number(t[2]) : NaN;
  return r.stdout;
}
const load = () => loadavg()[0].toFixed(2);

/**
 * Samples n images with the flags, then scores them: FID, confident shares, the wall seconds of the
 * command, the seconds of the sampling itself (the CLI's own count, without start-up and model
 * loading) and the command's CPU seconds.
 */
function measure(name, flags) {
  const dir = path.join(out, 'samples', name.replace(/[^\w.-]+/g, '_'));
  const t0 = performance.now();
  const said = diffuse('sample', ...flags, '--n', n, '--seed', '1', '--batch-size', '100', '--out', dir);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = diffuse.cpu;
  const sampling = Number(/images in ([\d.]+) s/.exec(said)?.[1] ?? NaN);
  const r = JSON.parse(diffuse('fid', path.join(dir, 'samples.npz'), 'mnist:test', '--json'));
  return { name, fid: r.fid, confident: r.confident.a, confidentReal: r.confident.b, seconds, sampling, cpu, load: load() };
}

/**
 * One configuration per solver: the best docs/samplers.md measured on digits-cpu for that solver
 * (σ_max clamp and final step), or k-diffusion's defaults where nothing was measured (euler, heun).
 * perStep: evaluations a step; final: evaluations saved on the last step (a last step into σ = 0
 * is a single Euler/first-order evaluation for heun and 2S).
 */
const SOLVERS = {
  ddim: { flags: ['--sampler', 'ddim'], note: '`uniform` grid, final step to ᾱ = 1 (the DDIM-50 reference)' },
  'dpmpp-2m': { flags: ['--sampler', 'dpmpp-2m', '--sigma-max', '80', '--denoise-final', 'false'], note: '`logsnr`, σ_max 80, no final denoise' },
  'dpmpp-3m': { flags: ['--sampler', 'dpmpp-3m', '--sigma-max', '40', '--denoise-final', 'false'], note: '`logsnr`, σ_max 40, no final denoise' },
  'dpmpp-2s': { flags: ['--sampler', 'dpmpp-2s', '--sigma-max', '80'], note: '`logsnr`, σ_max 80, final denoise', perStep: 2, final: 1 },
  'unipc-bh1': { flags: ['--sampler', 'unipc-bh1', '--sigma-max', '80', '--denoise-final', 'false'], note: '`logsnr`, σ_max 80, no final denoise' },
  'unipc-bh2': { flags: ['--sampler', 'unipc-bh2', '--sigma-max', '80', '--denoise-final', 'false'], note: '`logsnr`, σ_max 80, no final denoise' },
  euler: { flags: ['--sampler', 'euler', '--sigma-max', '80'], note: '`karras` ρ 7, σ_max 80, final denoise (unmeasured before: EDM\'s σ_max)' },
  heun: { flags: ['--sampler', 'heun', '--sigma-max', '80'], note: '`karras` ρ 7, σ_max 80, final denoise (unmeasured before: EDM\'s σ_max)', perStep: 2, final: 1 },
  ddpm: { flags: ['--sampler', 'ddpm'], note: 'ancestral, `uniform` respacing' },
};

/** The most steps whose evaluations fit the budget, and their exact evaluation count. */
function stepsFor(solver, budget) {
  const { perStep = 1, final = 0 } = SOLVERS[solver];
  const steps = Math.max(1, Math.floor((budget + final) / perStep));
  return { steps, nfe: steps * perStep - final };
}

if (args.includes('--grid')) {
  const checkpoint = opt('checkpoint', 'digits-cpu');
  const label = opt('label', path.basename(checkpoint));
  const budgets = opt('nfe', '5,8,10,15,20,50').split(',').map(Number);
  const solvers = opt('solvers', Object.keys(SOLVERS).join(',')).split(',');
  for (const s of solvers) if (!(s in SOLVERS)) throw new Error(`unknown solver ${s}; known: ${Object.keys(SOLVERS).join(', ')}`);
  mkdirSync(out, { recursive: true });
  const file = path.join(out, `grid-${label}.json`);
  // Resumable: cells already in the JSON are kept (a killed run picks up where it stopped).
  const cells = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')).cells : [];
  console.log(`${label} (${checkpoint}), ${n} samples, seed 1, batch 100, vs mnist:test; threads ${env.DIFFUSE_THREADS}`);
  for (const s of solvers) {
    for (const budget of budgets) {
      if (cells.some((c) => c.solver === s && c.budget === budget)) continue;
      const { steps, nfe } = stepsFor(s, budget);
      const r = measure(`${label}-${s}-${steps}`, ['--checkpoint', checkpoint, ...SOLVERS[s].flags, '--steps', String(steps)]);
      // Seconds of one evaluation of a 100-image batch: the sampling seconds over evaluations × batches.
      const perNfe = r.sampling / (nfe * Math.ceil(Number(n) / 100));
      cells.push({ solver: s, budget, steps, nfe, ...r, perNfe });
      console.log(`${s} ${budget}: ${steps} steps = ${nfe} NFE, FID ${r.fid.toFixed(2)}, confident ${r.confident.toFixed(3)}, ${r.sampling.toFixed(1)} s sampling (${r.seconds.toFixed(1)} s wall, ${r.cpu.toFixed(1)} CPU-s), ${perNfe.toFixed(3)} s/NFE/100, load ${r.load}`);
      writeFileSync(file, JSON.stringify({ label, checkpoint, n: Number(n), cpu: 'Intel Xeon Sapphire Rapids (2 cores, shared)', cells }, null, 1));
    }
  }
  // The markdown table: FID / confident share / seconds per n samples in each cell (exact NFE in
  // brackets where it differs from the column), then each solver's configuration.
  // (every budget measured so far, so runs with different --nfe lists make one table)
  const cols = [...new Set([...budgets, ...cells.map((c) => c.budget)])].sort((a, b) => a - b);
  const rowsOf = [...new Set([...solvers, ...cells.map((c) => c.solver)])];
  const head = `| solver | ${cols.map((b) => `${b} NFE`).join(' | ')} |\n|---|${cols.map(() => '---|').join('')}`;
  console.log(`\n${head}`);
  for (const s of rowsOf) {
    const row = cols.map((b) => {
      const c = cells.find((x) => x.solver === s && x.budget === b);
      if (c === undefined) return '—';
      return `${c.fid.toFixed(2)} / ${c.confident.toFixed(3)} / ${c.sampling.toFixed(0)} s${c.nfe !== b ? ` (${c.nfe})` : ''}`;
    });
    console.log(`| ${s} | ${row.join(' | ')} |`);
  }
  console.log('');
  for (const s of rowsOf) console.log(`- ${s}: ${SOLVERS[s].note}`);
  const per = cells.map((c) => c.perNfe).filter(Number.isFinite).sort((a, b) => a - b);
  const loads = cells.map((c) => Number(c.load));
  console.log(`\nseconds per evaluation of a 100-image batch: median ${per[per.length >> 1]?.toFixed(3)}, range ${per[0]?.toFixed(3)}–${per.at(-1)?.toFixed(3)}; load ${Math.min(...loads).toFixed(2)}–${Math.max(...loads).toFixed(2)}`);
  process.exit(0);
}

const rows = [];
const print = (r, nfe, extra = '') => console.log(`| ${r.name} | ${nfe} | ${r.fid.toFixed(2)} | ${(100 * r.confident).toFixed(1)} % | ${r.seconds.toFixed(1)} | ${r.load} | ${extra}`);
console.log(`digits-cpu, ${n} samples, seed 1, vs mnist:test (real digits: confident share of mnist:test shown once below); threads ${env.DIFFUSE_THREADS}\n`);
console.log(`| configuration | NFE | FID | confident | s / ${n} | load | note |\n|---|---|---|---|---|---|---|`);
if (!args.includes('--skip-baselines')) {
  for (const [name, nfe, flags] of [
    ['ddim-50', 50, ['--sampler', 'ddim', '--steps', '50']],
    ['unipc-bh1-10 order 3 σ80 nofinal', 10, ['--sampler', 'unipc-bh1', '--order', '3', '--steps', '10', '--sigma-max', '80', '--denoise-final', 'false']],
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
