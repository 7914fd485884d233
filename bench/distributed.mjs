#!/usr/bin/env node
// The figures of docs/distributed.md (not a test). Run under the bench lock:
//
//   flock /tmp/bench.lock node bench/distributed.mjs [sizes] [allreduce] [ddp] [throughput] [equivalence]
//
// sizes        parameter counts and gradient bytes of digits-cpu, ref-28 and a 64×64 RGB model
// allreduce    Gloo all-reduce over loopback, 2 processes, float32 buffers of those sizes (medians)
// ddp          2 processes × 1 thread: forward+backward with and without DDP's bucketed all-reduce,
//              and the all-reduce of the same gradients alone → communication time and overlap
// throughput   `diffuse train --preset digits-cpu`: 2 workers × 1 thread vs 1 process × 2 threads,
//              img/s (median of the log rows) and peak RSS (all processes of the run together)
// compute      forward+backward of the diffusion loss per image, 1 thread (COMPUTE_THREADS), batch 8:
//              the compute side of the scaling estimate
// equivalence  100 steps of digits-cpu: 2 workers × 16 vs 1 process × microbatch 16 (1 thread: bit
//              for bit) and vs 1 process × microbatch 16 on 2 threads (other kernels' rounding)
//
// Workers of the allreduce/ddp parts are this script started again with RANK set.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir, loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

process.env.OPENBLAS_NUM_THREADS = '1';
const torch = await import('@diffuse/torch');
const diffuse = await import('diffuse');

const here = path.dirname(fileURLToPath(import.meta.url));
const BIN = path.join(here, '../packages/diffuse/bin/diffuse.js');
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const load = () => loadavg().map((v) => v.toFixed(2)).join(' ');
const cpu = `${cpus()[0].model.trim()}, ${cpus().length} cores`;

function models() {
  const rgb64 = diffuse.resolveConfig('ref-28', {
    model: { imageSize: 64, channels: 3, modelChannels: 64, numResBlocks: 2, channelMult: [1, 2, 3, 4], attentionDs: [4, 8] },
  });
  return [
    ['digits-cpu', diffuse.resolveConfig('digits-cpu')],
    ['ref-28', diffuse.resolveConfig('ref-28')],
    ['rgb-64 (64 ch, mult 1,2,3,4, attn 16²/8²)', rgb64],
  ];
}

function paramCount(cfg) {
  return torch.tidy(() => {
    const m = diffuse.createUNet(cfg);
    const n = m.parameters().reduce((s, p) => s + p.numel(), 0);
    torch.dispose(Object.fromEntries(m.stateDict()));
    return n;
  });
}

async function freePort() {
  const s = createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const p = s.address().port;
  await new Promise((r) => s.close(r));
  return p;
}

/** Runs `node distributed.mjs worker PART` on n ranks; returns rank 0's JSON output. */
async function ranks(n, part, extra = {}) {
  const port = await freePort();
  const outs = await Promise.all(
    Array.from({ length: n }, (_, r) => new Promise((resolve, reject) => {
      const env = { ...process.env, RANK: String(r), WORLD_SIZE: String(n), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), GLOG_minloglevel: '3', ...extra };
      const c = spawn(process.execPath, [fileURLToPath(import.meta.url), 'worker', part], { env, stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      c.stdout.on('data', (d) => (out += d));
      c.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${part} rank ${r} exited ${code}`))));
    })),
  );
  return JSON.parse(outs[0]);
}

// ---- worker side ------------------------------------------------------------------------------
async function worker(part) {
  torch.setNumThreads(Number(process.env.THREADS ?? 1));
  torch.distributed.initProcessGroup({ backend: 'gloo', timeoutMs: 120_000 });
  const out = {};
  if (part === 'allreduce') {
    for (const [name, cfg] of models()) {
      const n = paramCount(cfg);
      const t = torch.ones([n]);
      const times = [];
      for (let i = 0; i < 13; i++) {
        torch.distributed.barrier();
        const t0 = performance.now();
        torch.distributed.allReduce(t, 'sum');
        if (i >= 3) times.push(performance.now() - t0);
      }
      out[name] = { n, ms: median(times) };
    }
  } else if (part === 'ddp') {
    for (const [name, cfg] of models().slice(0, 2)) {
      torch.manualSeed(0);
      const model = diffuse.createUNet(cfg);
      const diffusion = diffuse.createDiffusion(cfg.diffusion);
      const fn = diffuse.asModelFn(model);
      const ddp = new torch.nn.DistributedDataParallel(model);
      const B = 16;
      const x = torch.randn([B, cfg.model.channels, cfg.model.imageSize, cfg.model.imageSize]);
      const t = torch.randint(0, cfg.diffusion.diffusionSteps, [B]);
      const step = (sync) => torch.tidy(() => {
        model.zeroGrad();
        const body = () => ddp.forward(() => diffusion.trainingLosses(fn, x, t).loss.mean());
        const loss = sync ? body() : ddp.noSync(body);
        loss.backward();
      });
      const grads = model.parameters().map((p) => p.numel()).reduce((a, b) => a + b, 0);
      const flat = torch.zeros([grads]);
      const local = [];
      const synced = [];
      const comm = [];
      for (let i = 0; i < 7; i++) {
        torch.distributed.barrier();
        let t0 = performance.now();
        step(false);
        local.push(performance.now() - t0);
        torch.distributed.barrier();
        t0 = performance.now();
        step(true);
        synced.push(performance.now() - t0);
        torch.distributed.barrier();
        t0 = performance.now();
        torch.distributed.allReduce(flat, 'sum');
        comm.push(performance.now() - t0);
      }
      const [l, s, c] = [local, synced, comm].map((a) => median(a.slice(2)));
      out[name] = { params: grads, localMs: l, syncedMs: s, allreduceMs: c, exposedMs: s - l, overlap: 1 - (s - l) / c };
      ddp.dispose();
    }
  }
  torch.distributed.barrier();
  torch.distributed.destroyProcessGroup();
  process.stdout.write(JSON.stringify(out));
}

// ---- the parts --------------------------------------------------------------------------------

/** Runs `diffuse train ...` and returns [exit code, peak RSS of the process tree in MiB, seconds]. */
async function train(args) {
  const t0 = performance.now();
  const c = spawn(process.execPath, [BIN, 'train', ...args], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env } });
  const peak = new Map();
  const tree = (pid) => {
    let kids = [];
    try {
      kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {}
    return [pid, ...kids.flatMap(tree)];
  };
  const timer = setInterval(() => {
    for (const pid of tree(c.pid)) {
      try {
        const kb = Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
        peak.set(pid, Math.max(peak.get(pid) ?? 0, kb));
      } catch {}
    }
  }, 100);
  const code = await new Promise((r) => c.on('exit', r));
  clearInterval(timer);
  return [code, [...peak.values()].reduce((a, b) => a + b, 0) / 1024, (performance.now() - t0) / 1000];
}

function logRows(out) {
  return readFileSync(path.join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((r) => !r.eval);
}

function latestDir(out) {
  return path.join(out, 'checkpoints', readFileSync(path.join(out, 'checkpoints', 'latest'), 'utf8').trim());
}

function weightsDiff(a, b) {
  return torch.tidy(() => {
    const A = torch.loadSafetensors(path.join(latestDir(a), "model.safetensors")).tensors;
    const B = torch.loadSafetensors(path.join(latestDir(b), "model.safetensors")).tensors;
    let max = 0;
    let bitEqual = true;
    for (const k of Object.keys(A)) {
      max = Math.max(max, A[k].sub(B[k]).abs().max().item());
      bitEqual &&= A[k].equal(B[k]);
    }
    return { max, bitEqual };
  });
}

const args = process.argv.slice(2);
if (args[0] === 'worker') {
  await worker(args[1]);
  process.exit(0);
}
const want = (p) => args.length === 0 || args.includes(p);
console.log(`# bench/distributed.mjs on ${cpu}; libtorch ${torch.libtorchVersion}; load ${load()} (machine shared with other jobs)\n`);

if (want('sizes') || want('allreduce')) {
  const ar = want('allreduce') ? await ranks(2, 'allreduce') : null;
  console.log('| model | parameters | gradient bytes (fp32) | Gloo all-reduce, 2 proc, loopback | algorithm bandwidth |');
  console.log('|---|---:|---:|---:|---:|');
  for (const [name, cfg] of models()) {
    const n = ar?.[name]?.n ?? paramCount(cfg);
    const ms = ar?.[name]?.ms;
    const mb = (n * 4) / 2 ** 20;
    console.log(`| ${name} | ${n.toLocaleString('en')} | ${mb.toFixed(2)} MiB | ${ms === undefined ? '-' : ms.toFixed(2) + ' ms'} | ${ms === undefined ? '-' : ((n * 4) / (ms / 1000) / 1e9).toFixed(2) + ' GB/s'} |`);
  }
  console.log(`\nload after: ${load()}\n`);
}

if (want('ddp')) {
  const r = await ranks(2, 'ddp', { THREADS: '1' });
  console.log('| model, local batch 16, 2 proc × 1 thread | fwd+bwd, no sync | fwd+bwd with DDP | all-reduce alone | exposed comm | overlap |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const [name, v] of Object.entries(r)) {
    console.log(`| ${name} (${v.params.toLocaleString('en')} params) | ${v.localMs.toFixed(0)} ms | ${v.syncedMs.toFixed(0)} ms | ${v.allreduceMs.toFixed(1)} ms | ${v.exposedMs.toFixed(1)} ms | ${(100 * v.overlap).toFixed(0)} % |`);
  }
  console.log(`\nload after: ${load()}\n`);
}

if (want('compute')) {
  const threads = Number(process.env.COMPUTE_THREADS ?? 1);
  torch.setNumThreads(threads);
  console.log(`| model, batch 8, ${threads} thread(s), fp32 | forward+backward per image (median of 3) |`);
  console.log('|---|---:|');
  for (const [name, cfg] of models().slice(1)) {
    torch.manualSeed(0);
    const model = diffuse.createUNet(cfg);
    const diffusion = diffuse.createDiffusion(cfg.diffusion);
    const fn = diffuse.asModelFn(model);
    const x = torch.randn([8, cfg.model.channels, cfg.model.imageSize, cfg.model.imageSize]);
    const t = torch.randint(0, cfg.diffusion.diffusionSteps, [8]);
    const times = [];
    for (let i = 0; i < 4; i++) {
      const t0 = performance.now();
      torch.tidy(() => {
        model.zeroGrad();
        diffusion.trainingLosses(fn, x, t).loss.mean().backward();
      });
      if (i > 0) times.push(performance.now() - t0);
    }
    console.log(`| ${name} | ${(median(times) / 8).toFixed(1)} ms |`);
  }
  console.log(`\nload after: ${load()}\n`);
}

const STEPS = Number(process.env.STEPS ?? 30);
if (want('throughput')) {
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-ddp-'));
  try {
    const base = ['--preset', 'digits-cpu', '--data', 'mnist', '--steps', String(STEPS), '--log-interval', '5', '--save-interval', '0', '--minutes', '0', '--precision', 'fp32'];
    const runs = [
      ['1 process × 1 thread', [...base, '--threads', '1']],
      ['1 process × 2 threads', [...base, '--threads', '2']],
      ['2 workers × 1 thread', [...base, '--nproc-per-node', '2', '--threads', '2']],
    ];
    console.log(`| digits-cpu, batch 32, ${STEPS} steps, fp32 | img/s (median of log rows) | peak RSS, all processes | wall |`);
    console.log('|---|---:|---:|---:|');
    for (const [i, [name, a]] of runs.entries()) {
      const out = path.join(dir, String(i));
      const [code, mib, s] = await train([...a, '--out', out]);
      if (code !== 0) throw new Error(`${name}: exit ${code}`);
      const ips = median(logRows(out).slice(1).map((r) => r.imgPerSec));
      console.log(`| ${name} | ${ips.toFixed(1)} | ${mib.toFixed(0)} MiB | ${s.toFixed(0)} s |`);
    }
    console.log(`\nload after: ${load()}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (want('equivalence')) {
  const steps = Number(process.env.EQ_STEPS ?? 100);
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-ddp-eq-'));
  try {
    const base = ['--preset', 'digits-cpu', '--data', 'mnist', '--steps', String(steps), '--log-interval', '1', '--save-interval', '0', '--minutes', '0', '--precision', 'fp32'];
    const two = path.join(dir, 'two');
    const one = path.join(dir, 'one');
    const oneT2 = path.join(dir, 'one-t2');
    for (const [out, a] of [
      [two, ['--nproc-per-node', '2', '--threads', '2']],
      [one, ['--nproc-per-node', '1', '--threads', '1', '--microbatch', '16']],
      [oneT2, ['--nproc-per-node', '1', '--threads', '2', '--microbatch', '16']],
    ]) {
      const [code, , s] = await train([...base, ...a, '--out', out]);
      if (code !== 0) throw new Error(`${out}: exit ${code}`);
      console.error(`${path.basename(out)}: ${s.toFixed(0)} s`);
    }
    const L2 = logRows(two);
    console.log(`| ${steps} steps of digits-cpu (batch 32) vs 2 workers × 16 | losses equal | max |Δ loss| per step | max |Δ weight| at the end | weights bit-equal |`);
    console.log('|---|---:|---:|---:|---:|');
    for (const [name, out] of [['1 process, microbatch 16, 1 thread', one], ['1 process, microbatch 16, 2 threads', oneT2]]) {
      const L = logRows(out);
      const dl = Math.max(...L.map((r, i) => Math.abs(r.loss - L2[i].loss)));
      const eq = L.every((r, i) => r.loss === L2[i].loss && r.grad_norm === L2[i].grad_norm);
      const w = weightsDiff(two, out);
      console.log(`| ${name} | ${eq ? 'yes' : 'no'} | ${dl.toExponential(2)} | ${w.max.toExponential(2)} | ${w.bitEqual ? 'yes' : 'no'} |`);
    }
    console.log(`\nload after: ${load()}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
