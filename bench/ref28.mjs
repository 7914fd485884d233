#!/usr/bin/env node
// Side-by-side benchmark on the reference config ref-28 (DESIGN.md), diffuse against PyTorch
// eager (not a test). Usage, from the repository root after `npx tsc -b`:
//
//   node bench/ref28.mjs [--only train|sample] [--train-reps 5] [--train-steps 3]
//     [--sample-reps 3] [--sample-batch 64] [--sample-steps 50] [--set path=value ...]
//     [--steady] [--json out.json]
//   node bench/ref28.mjs --from out.json      # print the report of a saved run again
//
// Each phase (training, then DDIM sampling) starts two fresh worker processes: diffuse
// (bench/ref28-diffuse.mjs: the library's train() and generateImages(), as users run them) and
// PyTorch (bench/ref28.py under Debian's /usr/bin/python3: the UNet mirror of the golden tests with
// improved-diffusion's hybrid loss, AdamW, EMA and DDIM). Both get the same resolved TrainConfig,
// 2 intra-op threads and OPENBLAS_NUM_THREADS=1. After a warm-up they run in turn (diffuse,
// PyTorch, diffuse, …) so that drift in the machine's load hits both alike; each repetition
// records wall and process CPU seconds, and the report gives medians. Peak RSS is each worker's
// own (a fresh pair per phase, so the training and sampling peaks are separate). Model FLOPs
// utilisation = model FLOPs/s ÷ the best GFLOP/s of a large float32 conv forward measured in the
// same run; model FLOPs are counted once by ref28.py (forward convs, linears and attention
// matmuls per image; training counts 3× forward, DDIM one forward per step).
//
// --set path=value overrides a TrainConfig field (value as JSON, else a string), e.g.
// `--set model.dropout=0`; applied before either side builds anything, to training and sampling.
// --steady: both workers with OMP_WAIT_POLICY=PASSIVE and glibc's mmap/trim thresholds pinned
// (see bench/engine.mjs).
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { resolveConfig, validateConfig } from '../packages/diffuse/dist/src/train/config.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const STEADY_ENV = {
  OMP_WAIT_POLICY: 'PASSIVE',
  MALLOC_MMAP_THRESHOLD_: String(32 * 2 ** 20),
  MALLOC_TRIM_THRESHOLD_: String(2 ** 30),
};

// ---- arguments -------------------------------------------------------------------------------

function parseArgs(argv) {
  const o = {
    only: null, trainReps: 5, trainSteps: 3, trainWarmup: 2, sampleReps: 3, sampleBatch: 64, sampleSteps: 50,
    sampleWarmupSteps: 2, peakIters: 5, sets: [], steady: false, json: null, from: null,
  };
  const num = { 'train-reps': 'trainReps', 'train-steps': 'trainSteps', 'train-warmup': 'trainWarmup', 'sample-reps': 'sampleReps',
    'sample-batch': 'sampleBatch', 'sample-steps': 'sampleSteps', 'sample-warmup-steps': 'sampleWarmupSteps', 'peak-iters': 'peakIters' };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i].replace(/^--/, '');
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`--${flag} needs a value`);
      return argv[++i];
    };
    if (flag in num) {
      const v = Number(value());
      if (!Number.isInteger(v) || v < 0) throw new Error(`--${flag} must be a non-negative integer`);
      o[num[flag]] = v;
    } else if (flag === 'only') {
      o.only = value();
      if (o.only !== 'train' && o.only !== 'sample') throw new Error('--only is train or sample');
    } else if (flag === 'set') o.sets.push(value());
    else if (flag === 'json') o.json = value();
    else if (flag === 'from') o.from = value();
    else if (flag === 'steady') o.steady = true;
    else throw new Error(`unknown flag ${argv[i]}`);
  }
  return o;
}

/**
 * The ref-28 TrainConfig for benchmarking: no periodic checkpoints, no step limit, then the
 * --set overrides.
 * @param sets 'path=value' strings; value is JSON, or a plain string when it does not parse.
 */
function benchConfig(sets) {
  const cfg = resolveConfig('ref-28', { run: { data: 'memory', steps: Number.MAX_SAFE_INTEGER, saveInterval: 0 } });
  for (const s of sets) {
    const eq = s.indexOf('=');
    if (eq <= 0) throw new Error(`--set ${s}: expected path=value`);
    const keys = s.slice(0, eq).split('.');
    let value;
    try {
      value = JSON.parse(s.slice(eq + 1));
    } catch {
      value = s.slice(eq + 1);
    }
    let node = cfg;
    for (const k of keys.slice(0, -1)) {
      if (node[k] === null || typeof node[k] !== 'object') throw new Error(`--set ${s}: ${k} is not a section of the config`);
      node = node[k];
    }
    const last = keys.at(-1);
    if (!(last in node)) process.stderr.write(`note: --set ${s} adds ${keys.join('.')}, which the default config does not have\n`);
    node[last] = value;
  }
  validateConfig(cfg);
  return cfg;
}

// ---- workers ---------------------------------------------------------------------------------

/**
 * A child process speaking JSON lines (one request, one reply).
 * @returns { ready: Promise<object>, call(request) → Promise<object>, quit() → Promise<void> }.
 */
function startWorker(label, command, args, env) {
  const child = spawn(command, args, { env, stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async () => {
    const r = await lines.next();
    if (r.done) throw new Error(`the ${label} worker exited early (see its stderr above)`);
    return JSON.parse(r.value);
  };
  return {
    ready: next(),
    async call(request) {
      child.stdin.write(JSON.stringify(request) + '\n');
      return next();
    },
    async quit() {
      child.stdin.end(JSON.stringify({ op: 'quit' }) + '\n');
      await exited;
    },
  };
}

function startWorkers(steady) {
  const env = { ...process.env, OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '2', ...(steady ? STEADY_ENV : {}) };
  return {
    diffuse: startWorker('diffuse', process.execPath, [path.join(here, 'ref28-diffuse.mjs')], env),
    pytorch: startWorker('PyTorch', '/usr/bin/python3', [path.join(here, 'ref28.py')], env),
  };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Medians of a side's repetitions: seconds per rep, images/s by wall and by CPU time. */
function summarize(reps) {
  const images = reps[0]?.images ?? 0;
  const wall = median(reps.map((r) => r.wall));
  const cpu = median(reps.map((r) => r.cpu));
  return { wall, cpu, imgPerSec: images / wall, imgPerCpuSec: images / cpu, reps };
}

/**
 * One phase: fresh workers, warm-up, interleaved repetitions, then peak RSS and the conv peak.
 * @param phase 'train' or 'sample'.
 */
async function runPhase(phase, cfg, o) {
  const w = startWorkers(o.steady);
  const sides = ['diffuse', 'pytorch'];
  const info = {};
  for (const s of sides) info[s] = { ...(await w[s].ready), ...(await w[s].call({ op: 'setup', config: cfg })) };
  const request = phase === 'train'
    ? (steps) => ({ op: 'train', steps })
    : (steps) => ({ op: 'sample', batch: o.sampleBatch, steps });
  const [reps, steps, warmup] = phase === 'train'
    ? [o.trainReps, o.trainSteps, o.trainWarmup]
    : [o.sampleReps, o.sampleSteps, o.sampleWarmupSteps];
  // Warm-up (oneDNN primitives, allocator, optimizer state): not counted.
  if (warmup > 0) for (const s of sides) await w[s].call(request(warmup));
  const samples = { diffuse: [], pytorch: [] };
  for (let r = 0; r < reps; r++) {
    for (const s of sides) samples[s].push(await w[s].call(request(steps)));
    process.stderr.write(`  ${phase} rep ${r + 1}/${reps}: diffuse ${samples.diffuse[r].wall.toFixed(2)} s, PyTorch ${samples.pytorch[r].wall.toFixed(2)} s\n`);
  }
  const result = { info };
  for (const s of sides) {
    const { maxRssKiB } = await w[s].call({ op: 'rss' });
    const { gflops } = await w[s].call({ op: 'peak', iters: o.peakIters });
    result[s] = { ...summarize(samples[s]), maxRssMiB: maxRssKiB / 1024, convPeakGflops: gflops };
    await w[s].quit();
  }
  return result;
}

// ---- report ----------------------------------------------------------------------------------

const fmt = (v) => (v === undefined || Number.isNaN(v) ? '–' : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));

/** The markdown table of a report: one column pair and ratio per phase. */
function table(report) {
  const { results, convPeakGflops: peak, flopsPerImage, options: o } = report;
  const phases = Object.keys(results);
  const perImage = { train: 3 * flopsPerImage, sample: o.sampleSteps * flopsPerImage };
  const mfu = (p, s) => (100 * results[p][s].imgPerSec * perImage[p]) / (peak * 1e9);
  const best = (p, s) => results[p][s].reps[0].images / Math.min(...results[p][s].reps.map((r) => r.wall));
  const rows = [
    ['img/s (median wall)', (p, s) => results[p][s].imgPerSec],
    ['img/s (best rep)', best],
    ['img per CPU-s (median CPU)', (p, s) => results[p][s].imgPerCpuSec],
    ['wall s per rep (median)', (p, s) => results[p][s].wall],
    ['CPU s per rep (median)', (p, s) => results[p][s].cpu],
    ['peak RSS MiB', (p, s) => results[p][s].maxRssMiB],
    ['model FLOPs utilisation %', mfu],
  ];
  const name = { train: 'training', sample: `DDIM-${o.sampleSteps}` };
  const head = phases.map((p) => `${name[p]} diffuse | ${name[p]} PyTorch | ratio`).join(' | ');
  const out = [`| | ${head} |`, `|---|${phases.map(() => '---:|---:|---:').join('|')}|`];
  for (const [label, f] of rows) {
    const cells = phases.map((p) => {
      const [a, b] = [f(p, 'diffuse'), f(p, 'pytorch')];
      return `${fmt(a)} | ${fmt(b)} | ${(a / b).toFixed(2)}`;
    });
    out.push(`| ${label} | ${cells.join(' | ')} |`);
  }
  return out.join('\n');
}

/** Prints a report: the machine, versions, model and plan, then the table. */
function print(report) {
  const { options: o, config: cfg, results } = report;
  const any = Object.values(results)[0];
  const { diffuse: d, pytorch: p } = any.info;
  const peaks = (side) => Object.values(results).map((r) => fmt(r[side].convPeakGflops)).join(', ');
  const load = (l) => l.map((x) => x.toFixed(2)).join(' ');
  console.log(`${report.date}; machine: ${report.cpu ?? 'unknown CPU'}, ${report.cores} cores; load average before ${load(report.loadBefore)}, after ${load(report.loadAfter)}`);
  console.log(`diffuse: node ${report.node}, libtorch ${d.libtorch}, ${d.threads} threads; PyTorch ${p.torch} eager, ${p.threads} threads; OPENBLAS_NUM_THREADS=1${o.steady ? '; --steady' : ''}`);
  if (d.cpu !== undefined) {
    const limits = ['DNNL_MAX_CPU_ISA', 'ATEN_CPU_CAPABILITY'].filter((k) => report.env?.[k]).map((k) => `${k}=${report.env[k]}`);
    console.log(`kernels (both sides): oneDNN ${d.cpu.onednnIsa ?? '?'}, ATen ${d.cpu.atenCapability}${limits.length ? ` (limited by ${limits.join(' ')})` : ''}; ` +
      `diffuse precision ${cfg.run.precision}${cfg.run.precision === 'auto' ? ` = ${d.autoDtype}` : ''}`);
  }
  console.log(`model: ref-28${o.sets.length ? ` with ${o.sets.join(', ')}` : ''}; ${report.numParameters} parameters (diffuse ${d.numParameters}); ` +
    `${(report.flopsPerImage / 1e9).toFixed(3)} GFLOP forward per image; conv peak ${fmt(report.convPeakGflops)} GFLOP/s (per phase: diffuse ${peaks('diffuse')}; PyTorch ${peaks('pytorch')})`);
  if (p.notMirrored.length > 0) console.log(`not mirrored by the PyTorch side: ${p.notMirrored.join(', ')}`);
  console.log(`plan: training ${o.trainReps} reps × ${o.trainSteps} steps of batch ${cfg.optim.batchSize} (warm-up ${o.trainWarmup} steps); ` +
    `sampling ${o.sampleReps} reps × 1 batch of ${o.sampleBatch} × DDIM-${o.sampleSteps} (warm-up DDIM-${o.sampleWarmupSteps}); ratio = diffuse / PyTorch`);
  console.log('');
  console.log(table(report));
}

/** Runs the phases the options ask for and collects the report. */
async function measure(o) {
  const cfg = benchConfig(o.sets);
  const loadBefore = loadavg();
  const results = {};
  for (const phase of ['train', 'sample']) {
    if (o.only !== null && o.only !== phase) continue;
    process.stderr.write(`${phase}…\n`);
    results[phase] = await runPhase(phase, cfg, o);
  }
  const pytorch = Object.values(results)[0].info.pytorch;
  return {
    date: new Date().toISOString(), cpu: cpus()[0]?.model, cores: cpus().length,
    env: { DNNL_MAX_CPU_ISA: process.env.DNNL_MAX_CPU_ISA, ATEN_CPU_CAPABILITY: process.env.ATEN_CPU_CAPABILITY }, node: process.version, loadBefore, loadAfter: loadavg(),
    options: o, config: cfg, flopsPerImage: pytorch.flopsPerImage, numParameters: pytorch.numParameters,
    convPeakGflops: Math.max(...Object.values(results).flatMap((r) => [r.diffuse.convPeakGflops, r.pytorch.convPeakGflops])),
    results,
  };
}

// ---- run -------------------------------------------------------------------------------------

try {
  const o = parseArgs(process.argv.slice(2));
  const report = o.from !== null ? JSON.parse(readFileSync(o.from, 'utf8')) : await measure(o);
  print(report);
  if (o.json !== null) writeFileSync(o.json, JSON.stringify(report, null, 1) + '\n');
} catch (e) {
  // Bad flags, a config either side rejects, a worker that died: one line (its own stderr above).
  process.stderr.write(`bench/ref28.mjs: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
}
