#!/usr/bin/env node
// Runs test files under emulated CPUs and thread counts, so that a float assertion which holds only
// on this machine's kernels fails here rather than on the next machine (issue 11). oneDNN and ATen
// are told to use a lower instruction set (DNNL_MAX_CPU_ISA, ATEN_CPU_CAPABILITY: both honoured by
// libtorch 1.13; torch.cpuInfo() shows what they picked), the thread count is set by DIFFUSE_THREADS.
//
//   node scripts/test-cpus.mjs                  the whole suite under every setting (~10 min here)
//   node scripts/test-cpus.mjs --quick          the kernel-sensitive subset on the emulated CPUs (.ci/run runs this)
//   node scripts/test-cpus.mjs FILE.test.js …   these files under every setting
//   … --only AVX2                              only the settings whose name contains 'AVX2'
//
// Ends with 'N passed, N failed' counted over settings × files.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The CPUs a machine of this project's kind may have, and the ones below it that users run. */
const SETTINGS = [
  { name: 'this CPU, 1 thread', env: { DIFFUSE_THREADS: '1' } },
  { name: 'this CPU, 2 threads', env: { DIFFUSE_THREADS: '2' } },
  { name: 'AVX-512 without BF16, 1 thread', env: { DNNL_MAX_CPU_ISA: 'AVX512_CORE', ATEN_CPU_CAPABILITY: 'avx512', DIFFUSE_THREADS: '1' } },
  { name: 'AVX-512 without BF16, 2 threads', env: { DNNL_MAX_CPU_ISA: 'AVX512_CORE', ATEN_CPU_CAPABILITY: 'avx512', DIFFUSE_THREADS: '2' } },
  { name: 'AVX2, 1 thread', env: { DNNL_MAX_CPU_ISA: 'AVX2', ATEN_CPU_CAPABILITY: 'avx2', DIFFUSE_THREADS: '1' } },
  { name: 'AVX2, 2 threads', env: { DNNL_MAX_CPU_ISA: 'AVX2', ATEN_CPU_CAPABILITY: 'avx2', DIFFUSE_THREADS: '2' } },
  { name: 'x86-64 baseline (SSE4.1), 2 threads', env: { DNNL_MAX_CPU_ISA: 'SSE41', ATEN_CPU_CAPABILITY: 'default', DIFFUSE_THREADS: '2' } },
];

// --quick: the emulated CPUs only (npm test itself runs this CPU on its default 2 threads), both
// thread counts among them.
const QUICK_SETTINGS = ['AVX-512 without BF16, 1 thread', 'AVX2, 2 threads', 'x86-64 baseline (SSE4.1), 2 threads'];

// The tests whose numbers go through oneDNN, BLAS or our fused kernels at several shapes, dtypes
// or thread counts: where a kernel choice can move a float (about a minute per setting).
const QUICK = [
  'packages/torch/dist/test/precision.test.js',
  'packages/torch/dist/test/fused-norm.test.js',
  'packages/torch/dist/test/packed-attention.test.js',
  'packages/torch/dist/test/nn_layers.test.js',
  'packages/torch/dist/test/random.test.js',
  'packages/diffuse/dist/test/precision.test.js',
  'packages/diffuse/dist/test/norm-act.test.js',
  'packages/diffuse/dist/test/unet.test.js',
  'packages/diffuse/dist/test/unet-train.test.js',
  'packages/diffuse/dist/test/train-resume.test.js',
  'packages/diffuse/dist/test/eval-features.test.js',
  'packages/diffuse/dist/test/samplers.test.js',
  'packages/torch/dist/test/nn_lora.test.js',
  'packages/diffuse/dist/test/lora.test.js',
  'packages/diffuse/dist/test/controlnet.test.js',
  'packages/diffuse/dist/test/attn-processors.test.js',
  'packages/diffuse/dist/test/edit.test.js',
  'packages/diffuse/dist/test/autoencoder.test.js',
  'packages/diffuse/dist/test/dit.test.js',
  'packages/diffuse/dist/test/export-onnx.test.js',
];

function allTests() {
  return ['torch', 'diffuse'].flatMap((p) => {
    const dir = `packages/${p}/dist/test`;
    return readdirSync(path.join(root, dir)).filter((f) => f.endsWith('.test.js')).sort().map((f) => `${dir}/${f}`);
  });
}

const args = process.argv.slice(2);
const onlyAt = args.indexOf('--only');
const only = onlyAt >= 0 ? args.splice(onlyAt, 2)[1] ?? '' : '';
const named = args.filter((a) => !a.startsWith('--'));
const quick = args.includes('--quick');
const files = quick ? QUICK : named.length > 0 ? named : allTests();
const settings = SETTINGS.filter((x) => x.name.includes(only) && (!quick || QUICK_SETTINGS.includes(x.name)));

// Limits already in the caller's environment would hide the settings' own.
const base = { ...process.env };
for (const k of ['DNNL_MAX_CPU_ISA', 'ONEDNN_MAX_CPU_ISA', 'ATEN_CPU_CAPABILITY', 'DIFFUSE_THREADS', 'OMP_NUM_THREADS']) delete base[k];

let passed = 0;
let failed = 0;
for (const s of settings) {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=tap', ...files], {
    cwd: root, env: { ...base, ...s.env }, encoding: 'utf8', maxBuffer: 256 * 2 ** 20,
  });
  const out = `${r.stdout}${r.stderr}`;
  const count = (k) => Number(out.match(new RegExp(`^# ${k} (\\d+)$`, 'm'))?.[1] ?? 0);
  const [pass, fail] = [count('pass'), count('fail')];
  // A crashed runner counts as one failure even where it printed no summary.
  const ok = r.status === 0 && fail === 0 && pass > 0;
  passed += pass;
  failed += ok ? fail : Math.max(fail, 1);
  console.log(`${ok ? 'ok' : 'FAIL'}  ${s.name.padEnd(34)} ${String(pass).padStart(4)} pass ${String(fail).padStart(3)} fail  ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  if (!ok) {
    const notOk = out.split('\n').filter((l) => /^\s*not ok /.test(l));
    console.log(notOk.length > 0 ? notOk.join('\n') : out.slice(-3000));
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
