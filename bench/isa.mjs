#!/usr/bin/env node
// Training speed of a preset under emulated CPUs (not a test): `diffuse train` as users run it, once
// per setting, in turn. oneDNN and ATen are limited with DNNL_MAX_CPU_ISA / ATEN_CPU_CAPABILITY
// (libtorch 1.13 honours both), which shows how the default precision ('auto') and the fused kernels
// fare on a CPU without AVX512-BF16 (or without AVX-512) without needing one. From the repository
// root after `npx tsc -b`:
//
//   node bench/isa.mjs [--preset digits-cpu] [--steps 300] [--log-interval 50] [--threads 2]
//
// img/s is the median of the log rows after the first (the first holds the warm-up).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(root, 'packages/diffuse/bin/diffuse.js');

const SETTINGS = [
  { name: 'this CPU', env: {}, precision: 'auto' },
  { name: 'this CPU', env: {}, precision: 'fp32' },
  { name: 'AVX-512 without BF16', env: { DNNL_MAX_CPU_ISA: 'AVX512_CORE', ATEN_CPU_CAPABILITY: 'avx512' }, precision: 'auto' },
  { name: 'AVX-512 without BF16', env: { DNNL_MAX_CPU_ISA: 'AVX512_CORE', ATEN_CPU_CAPABILITY: 'avx512' }, precision: 'bf16' },
  { name: 'AVX2', env: { DNNL_MAX_CPU_ISA: 'AVX2', ATEN_CPU_CAPABILITY: 'avx2' }, precision: 'auto' }, // bf16 is refused there
];

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}
const preset = option('preset', 'digits-cpu');
const steps = option('steps', '300');
const logInterval = option('log-interval', '50');
const threads = option('threads', String(cpus().length));

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const base = { ...process.env };
for (const k of ['DNNL_MAX_CPU_ISA', 'ONEDNN_MAX_CPU_ISA', 'ATEN_CPU_CAPABILITY', 'DIFFUSE_THREADS']) delete base[k];

/** What the kernels and `auto` resolve to under an environment (a fresh process, as the run's). */
function kernels(env) {
  const code = `import * as torch from '@diffuse/torch'; import { computeDtypeFor } from 'diffuse';
    console.log(JSON.stringify({ ...torch.cpuInfo(), auto: computeDtypeFor('auto') }));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { cwd: root, env: { ...base, ...env }, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout);
}

console.log(`${new Date().toISOString()}; ${cpus()[0]?.model}, ${cpus().length} cores; ${preset}, ${steps} steps, ${threads} threads; img/s = median of log rows after the first`);
console.log('');
console.log('| CPU (emulated) | oneDNN ISA | ATen | --precision | computes in | training img/s |');
console.log('|---|---|---|---|---|---:|');
for (const s of SETTINGS) {
  const k = kernels(s.env);
  const out = mkdtempSync(path.join(tmpdir(), 'diffuse-bench-isa-'));
  try {
    const r = spawnSync(process.execPath, [BIN, 'train', '--data', 'mnist', '--preset', preset, '--out', out, '--steps', steps,
      '--minutes', '0', '--log-interval', logInterval, '--save-interval', '0', '--precision', s.precision, '--threads', threads], {
      env: { ...base, ...s.env }, encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(`${s.name} ${s.precision}: ${r.stderr}`);
    const rows = readFileSync(path.join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((row) => row.imgPerSec !== undefined);
    const dtype = s.precision === 'auto' ? k.auto : s.precision === 'bf16' ? 'bfloat16' : 'float32';
    console.log(`| ${s.name} | ${k.onednnIsa} | ${k.atenCapability} | ${s.precision} | ${dtype} | ${median(rows.slice(1).map((row) => row.imgPerSec)).toFixed(1)} |`);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}
