#!/usr/bin/env node
// Engine benchmark, side by side with PyTorch (not a test). Usage, from the repository root after
// `npx tsc -b`:
//
//   node bench/engine.mjs [--reps 9] [--only conv28,resblock] [--steady]
//
// --steady runs both engines with OMP_WAIT_POLICY=PASSIVE (idle OpenMP workers sleep instead of
// spinning, which on a shared machine steals cores from whoever runs next) and glibc's mmap and
// trim thresholds pinned (MALLOC_MMAP_THRESHOLD_=32 MiB, MALLOC_TRIM_THRESHOLD_=1 GiB). Without
// the pin, glibc's dynamic threshold makes the multi-MB activations of a training step come
// either from fresh mmap()s (page faults on every step) or from the heap, varying from run to run
// by ~20% in either engine; pinned, both measure the kernels and the binding, not allocator luck.
//
// Spawns `/usr/bin/python3 bench/engine.py` (Debian's PyTorch) and samples both engines in turn,
// case by case, so that drift in the machine's load hits both alike. Both run 2 intra-op threads
// with OPENBLAS_NUM_THREADS=1. Reports, per case, the median of the samples in the case's unit,
// and three time ratios diffuse / PyTorch (> 1: diffuse slower): of the median wall times, of the
// best wall times, and of the median process CPU times (all threads). On a shared machine the
// best-of and CPU ratios are the steadier ones: waiting for a core costs wall time, not CPU time.
import { spawn, spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const STEADY_ENV = {
  OMP_WAIT_POLICY: 'PASSIVE',
  MALLOC_MMAP_THRESHOLD_: String(32 * 2 ** 20),
  MALLOC_TRIM_THRESHOLD_: String(2 ** 30),
};
if (process.argv.includes('--steady') && process.env.DIFFUSE_BENCH_STEADY !== '1') {
  // glibc and libgomp read these at start-up: run again in an environment that has them.
  const env = { ...process.env, ...STEADY_ENV, DIFFUSE_BENCH_STEADY: '1' };
  const r = spawnSync(process.execPath, process.argv.slice(1), { env, stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

process.env.OPENBLAS_NUM_THREADS = '1'; // read when the addon loads libblas: set before the import
const torch = await import('@diffuse/torch');
torch.setNumThreads(2);
torch.manualSeed(0);

const here = path.dirname(fileURLToPath(import.meta.url));

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}
const REPS = Number(arg('reps', 9));
const ONLY = arg('only', '').split(',').filter(Boolean);

// ---- the cases (each mirrors the function of the same name in engine.py) ----------------------

function addCase() {
  const a = torch.randn([4]);
  const b = torch.randn([4]);
  return () => a.add(b).dispose();
}

function convCase(batch, channels, size) {
  const x = torch.randn([batch, channels, size, size]).requiresGrad_(); // (B, C, H, W)
  const w = torch.randn([channels, channels, 3, 3]).requiresGrad_();
  const b = torch.randn([channels]).requiresGrad_();
  const g = torch.randn([batch, channels, size, size]);
  return () =>
    torch.tidy(() => {
      torch.conv2d(x, w, b, { padding: 1 }).backward(g);
      for (const t of [x, w, b]) t.zeroGrad();
    });
}

function matmulCase(n) {
  const a = torch.randn([n, n]);
  const b = torch.randn([n, n]);
  return () => a.matmul(b).dispose();
}

/** A UNet residual block (improved-diffusion's ResBlock without scale-shift) training step. */
function resblockCase(batch, channels, size, embDim) {
  const p = {
    gn1W: torch.ones([channels]), gn1B: torch.zeros([channels]),
    conv1W: torch.randn([channels, channels, 3, 3]).mul_(0.05), conv1B: torch.zeros([channels]),
    embW: torch.randn([channels, embDim]).mul_(0.05), embB: torch.zeros([channels]),
    gn2W: torch.ones([channels]), gn2B: torch.zeros([channels]),
    conv2W: torch.randn([channels, channels, 3, 3]).mul_(0.05), conv2B: torch.zeros([channels]),
  };
  const params = Object.values(p).map((t) => t.requiresGrad_());
  const x = torch.randn([batch, channels, size, size]); // (B, C, H, W)
  const emb = torch.randn([batch, embDim]); // (B, E)
  return () =>
    torch.tidy(() => {
      let h = torch.conv2d(torch.groupNorm(x, 32, p.gn1W, p.gn1B).silu(), p.conv1W, p.conv1B, { padding: 1 });
      const e = torch.linear(emb.silu(), p.embW, p.embB); // (B, C)
      h = h.add(e.unsqueeze(-1).unsqueeze(-1)); // (B, C, H, W)
      h = torch.conv2d(torch.groupNorm(h, 32, p.gn2W, p.gn2B).silu(), p.conv2W, p.conv2B, { padding: 1 });
      const out = x.add(h);
      out.mul(out).mean().backward();
      torch.noGrad(() => {
        for (const t of params) {
          t.sub_(t.grad, 1e-3);
          t.zeroGrad();
        }
      });
    });
}

/**
 * The UNet's norm chain GroupNorm(32) → ·(1 + scale) + shift → SiLU → Dropout(0.1), forward +
 * backward to x, weight, bias, scale and shift: diffuse's fused op (PyTorch runs the composition).
 */
function normActCase(batch, channels, size) {
  const x = torch.randn([batch, channels, size, size]).requiresGrad_(); // (B, C, H, W)
  const w = torch.ones([channels]).requiresGrad_();
  const b = torch.zeros([channels]).requiresGrad_();
  const scale = torch.randn([batch, channels]).mul_(0.1).requiresGrad_(); // (B, C)
  const shift = torch.randn([batch, channels]).mul_(0.1).requiresGrad_(); // (B, C)
  const g = torch.randn([batch, channels, size, size]);
  return () =>
    torch.tidy(() => {
      torch.groupNormAct(x, 32, w, b, { scale, shift, silu: true, dropout: 0.1, training: true }).backward(g);
      for (const t of [x, w, b, scale, shift]) t.zeroGrad();
    });
}

const convFlops = (b, c, s) => 3 * 2 * b * c * c * 9 * s * s; // forward + grad input + grad weight
const CASES = [
  { name: 'add', label: 'add, 4 floats (per call)', make: addCase, iters: 20000, unit: 'µs', value: (t) => t * 1e6 },
  { name: 'conv28', label: 'conv2d fwd+bwd, B32 32→32 3×3 28×28', make: () => convCase(32, 32, 28), iters: 5, unit: 'GFLOP/s', value: (t) => convFlops(32, 32, 28) / t / 1e9 },
  { name: 'conv14', label: 'conv2d fwd+bwd, B32 64→64 3×3 14×14', make: () => convCase(32, 64, 14), iters: 5, unit: 'GFLOP/s', value: (t) => convFlops(32, 64, 14) / t / 1e9 },
  { name: 'matmul1024', label: 'matmul 1024² float32', make: () => matmulCase(1024), iters: 5, unit: 'GFLOP/s', value: (t) => (2 * 1024 ** 3) / t / 1e9 },
  { name: 'matmul2048', label: 'matmul 2048² float32', make: () => matmulCase(2048), iters: 2, unit: 'GFLOP/s', value: (t) => (2 * 2048 ** 3) / t / 1e9 },
  { name: 'normact14', label: 'GroupNorm+scale-shift+SiLU+Dropout fwd+bwd, B64 64ch 14×14', make: () => normActCase(64, 64, 14), iters: 5, unit: 'ms', value: (t) => t * 1e3 },
  { name: 'normact28', label: 'GroupNorm+scale-shift+SiLU+Dropout fwd+bwd, B64 32ch 28×28', make: () => normActCase(64, 32, 28), iters: 5, unit: 'ms', value: (t) => t * 1e3 },
  { name: 'resblock', label: 'UNet res block train step, B32 64ch 14×14', make: () => resblockCase(32, 64, 14, 128), iters: 4, unit: 'ms', value: (t) => t * 1e3 },
].filter((c) => ONLY.length === 0 || ONLY.includes(c.name));

// ---- the PyTorch child ----------------------------------------------------------------------

function startPython() {
  const env = { ...process.env, OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '2' };
  const child = spawn('/usr/bin/python3', [path.join(here, 'engine.py')], { env, stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async () => {
    const r = await lines.next();
    if (r.done) throw new Error('bench/engine.py exited early (see its stderr above)');
    return JSON.parse(r.value);
  };
  return {
    ready: next(),
    /** Wall and CPU seconds for `iters` iterations of a case in PyTorch. */
    async run(name, iters) {
      child.stdin.write(JSON.stringify({ case: name, iters }) + '\n');
      return next();
    },
    close() {
      child.stdin.end(JSON.stringify({ quit: true }) + '\n');
    },
  };
}

/** Wall and process CPU seconds (all threads) for `iters` iterations of a case here. */
function timeJs(step, iters) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < iters; i++) step();
  const wall = (performance.now() - t0) / 1e3;
  const c = process.cpuUsage(c0);
  return { wall, cpu: (c.user + c.system) / 1e6 };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

// ---- run --------------------------------------------------------------------------------------

const py = startPython();
const info = await py.ready;
console.log(`machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores; node ${process.version}; ` +
  `libtorch ${torch.libtorchVersion} (diffuse) vs PyTorch ${info.torch} (python); threads 2 / ${info.threads}; ` +
  `OPENBLAS_NUM_THREADS=1; ${REPS} samples each, interleaved`);
const steady = Object.keys(STEADY_ENV).map((k) => `${k}=${process.env[k] ?? '(unset)'}`).join(' ');
console.log(`environment: ${steady}`);

const rows = [];
for (const c of CASES) {
  const step = c.make();
  step(); // warm-up, as engine.py does
  const js = [];
  const pt = [];
  for (let r = 0; r < REPS; r++) {
    js.push(timeJs(step, c.iters));
    pt.push(await py.run(c.name, c.iters));
  }
  const per = (samples, key) => samples.map((s) => s[key] / c.iters);
  const [wJs, wPy] = [per(js, 'wall'), per(pt, 'wall')];
  rows.push({
    label: c.label,
    unit: c.unit,
    ours: c.value(median(wJs)),
    theirs: c.value(median(wPy)),
    wallRatio: median(wJs) / median(wPy),
    bestRatio: Math.min(...wJs) / Math.min(...wPy),
    cpuRatio: median(per(js, 'cpu')) / median(per(pt, 'cpu')),
  });
  process.stderr.write(`  ${c.name} done\n`);
}
py.close();

const fmt = (v) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
console.log('\n| case | unit | diffuse | PyTorch | wall ratio (median) | wall ratio (best) | CPU ratio |');
console.log('|---|---|---:|---:|---:|---:|---:|');
for (const r of rows) {
  console.log(`| ${r.label} | ${r.unit} | ${fmt(r.ours)} | ${fmt(r.theirs)} | ${r.wallRatio.toFixed(2)} | ${r.bestRatio.toFixed(2)} | ${r.cpuRatio.toFixed(2)} |`);
}
