#!/usr/bin/env node
// DiT side by side with PyTorch eager (not a test): training steps and DDIM-50 sampling of the
// same DiT (the digits-dit preset's by default), diffuse against the mirror of the golden tests
// (bench/dit.py → packages/diffuse/test/golden/dit_gen.py). Usage, from the repository root after
// `npx tsc -b`, holding the benchmark lock on a shared machine:
//
//   flock /tmp/bench.lock node bench/dit.mjs [--reps 3] [--train-steps 2] [--batch 32]
//     [--sample-batch 64] [--sample-steps 50] [--patch 4] [--width 192] [--depth 6] [--heads 4]
//
// Two worker processes per precision (this file with --worker, and bench/dit.py under Debian's
// /usr/bin/python3), 2 intra-op threads each, OPENBLAS_NUM_THREADS=1; after one warm-up call they
// run in turn (diffuse, PyTorch, diffuse, …) so that drift in the machine's load hits both alike.
// The report gives medians of images/s by wall time, the ratio, and each worker's peak RSS.
// diffuse runs twice: float32 (like for like) and bfloat16 mixed precision ('auto' on AMX CPUs).
import { spawn } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const T = 1000;

function args(argv) {
  const o = { reps: 3, trainSteps: 2, batch: 32, sampleBatch: 64, sampleSteps: 50, patch: 4, width: 192, depth: 6, heads: 4, worker: null };
  const keys = { reps: 'reps', 'train-steps': 'trainSteps', batch: 'batch', 'sample-batch': 'sampleBatch', 'sample-steps': 'sampleSteps', patch: 'patch', width: 'width', depth: 'depth', heads: 'heads' };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i].replace(/^--/, '');
    if (k === 'worker') o.worker = argv[++i];
    else if (k in keys) o[keys[k]] = Number(argv[++i]);
    else throw new Error(`unknown flag ${argv[i]}`);
  }
  return o;
}

// ---- the diffuse worker (the same work as bench/dit.py) -------------------------------------

async function worker(precision) {
  const torch = await import('@diffuse/torch');
  const { DiT } = await import('../packages/diffuse/dist/src/index.js');
  torch.setNumThreads(2);
  const alphaBar = Float64Array.from({ length: T }, (_, t) => Math.cos(((t / T + 0.008) / 1.008) * Math.PI / 2) ** 2 / Math.cos((0.008 / 1.008) * Math.PI / 2) ** 2);
  const abT = torch.tensor(Float32Array.from(alphaBar)).keep();
  let model, opt, size;
  const clock = () => [performance.now() / 1000, process.cpuUsage()];
  const since = ([w, c]) => ({ wall: performance.now() / 1000 - w, cpu: (process.cpuUsage(c).user + process.cpuUsage(c).system) / 1e6 });
  for await (const line of createInterface({ input: process.stdin })) {
    const req = JSON.parse(line);
    let out;
    if (req.op === 'setup') {
      size = req.imageSize;
      torch.manualSeed(0);
      model = new DiT(req.model);
      torch.nn.setComputeDtype(model, precision === 'bf16' ? 'bfloat16' : 'float32');
      opt = new torch.optim.AdamW(model.parameters(), { lr: 5e-4, weightDecay: 0 });
      out = { numParameters: model.parameters().reduce((a, p) => a + p.numel(), 0) };
    } else if (req.op === 'train') {
      model.train();
      const b = req.batch;
      const c0 = clock();
      for (let s = 0; s < req.steps; s++) {
        torch.tidy(() => {
          const x0 = torch.rand([b, 1, size, size]).mul(2).sub(1);
          const t = torch.randint(0, T, [b]);
          const ab = abT.indexSelect(0, t).reshape([b, 1, 1, 1]);
          const eps = torch.randnLike(x0);
          const xt = ab.sqrt().mul(x0).add(ab.neg().add(1).sqrt().mul(eps));
          const loss = model.forward(xt, t.to('float32')).narrow(1, 0, 1).sub(eps).pow(2).mean();
          opt.zeroGrad();
          loss.backward();
          torch.optim.clipGradNorm_(model.parameters(), 1);
          opt.step();
        });
      }
      out = { ...since(c0), images: b * req.steps };
    } else if (req.op === 'sample') {
      model.eval();
      const { batch: b, steps } = req;
      const ts = Array.from({ length: steps }, (_, i) => Math.round((i * T) / steps)).reverse();
      const c0 = clock();
      torch.noGrad(() => {
        let x = torch.randn([b, 1, size, size]);
        ts.forEach((t, i) => {
          const next = torch.tidy(() => {
            const ab = alphaBar[t];
            const abPrev = i + 1 < ts.length ? alphaBar[ts[i + 1]] : 1;
            const eps = model.forward(x, torch.full([b], t)).narrow(1, 0, 1);
            const x0 = x.sub(eps.mul(Math.sqrt(1 - ab))).div(Math.sqrt(ab)).clamp(-1, 1);
            return x0.mul(Math.sqrt(abPrev)).add(eps.mul(Math.sqrt(1 - abPrev)));
          });
          x.dispose();
          x = next;
        });
        x.dispose();
      });
      out = { ...since(c0), images: b };
    } else if (req.op === 'rss') {
      out = { maxRssKiB: process.resourceUsage().maxRSS };
    } else if (req.op === 'quit') {
      return;
    }
    process.stdout.write(JSON.stringify(out) + '\n');
  }
}

// ---- the coordinator -------------------------------------------------------------------------

function start(label, command, argv) {
  const env = { ...process.env, OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '2' };
  const child = spawn(command, argv, { env, stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const exited = new Promise((r) => child.on('exit', r));
  return {
    label,
    async call(req) {
      child.stdin.write(JSON.stringify(req) + '\n');
      const r = await lines.next();
      if (r.done) throw new Error(`the ${label} worker exited early`);
      return JSON.parse(r.value);
    },
    async quit() {
      child.stdin.end(JSON.stringify({ op: 'quit' }) + '\n');
      await exited;
    },
  };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function main() {
  const o = args(process.argv.slice(2));
  if (o.worker !== null) return worker(o.worker);
  const model = { inChannels: 1, patchSize: o.patch, hiddenSize: o.width, depth: o.depth, numHeads: o.heads, learnSigma: false, numClasses: null };
  const setup = { op: 'setup', model, imageSize: 28 };
  console.log(`DiT p=${o.patch} width ${o.width} depth ${o.depth} heads ${o.heads} on 28×28×1; ${cpus()[0].model}, ${cpus().length} cores; load ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  const rows = [];
  for (const precision of ['fp32', 'bf16']) {
    const sides = [start(`diffuse ${precision}`, process.execPath, [fileURLToPath(import.meta.url), '--worker', precision]), start('PyTorch eager fp32', '/usr/bin/python3', [path.join(here, 'dit.py')])];
    const params = await Promise.all(sides.map((s) => s.call(setup)));
    for (const [phase, req] of [['train', { op: 'train', steps: o.trainSteps, batch: o.batch }], ['sample', { op: 'sample', batch: o.sampleBatch, steps: o.sampleSteps }]]) {
      const warm = phase === 'train' ? { ...req, steps: 1 } : { ...req, steps: 2 };
      for (const s of sides) await s.call(warm);
      const times = sides.map(() => []);
      for (let r = 0; r < o.reps; r++) {
        for (const [i, s] of sides.entries()) {
          const res = await s.call(req);
          times[i].push(res.images / res.wall);
        }
      }
      rows.push({ precision, phase, diffuse: median(times[0]), pytorch: median(times[1]) });
      console.log(`${phase.padEnd(6)} ${precision}: diffuse ${median(times[0]).toFixed(2)} img/s, PyTorch eager fp32 ${median(times[1]).toFixed(2)} img/s, ratio ${(median(times[0]) / median(times[1])).toFixed(2)}× (medians of ${o.reps}; load ${loadavg()[0].toFixed(1)})`);
    }
    const rss = await Promise.all(sides.map((s) => s.call({ op: 'rss' })));
    console.log(`peak RSS: diffuse ${precision} ${(rss[0].maxRssKiB / 1024).toFixed(0)} MiB, PyTorch ${(rss[1].maxRssKiB / 1024).toFixed(0)} MiB; parameters ${params[0].numParameters} / ${params[1].numParameters}`);
    await Promise.all(sides.map((s) => s.quit()));
  }
}

await main();
