#!/usr/bin/env node
// Autoencoder training and encoding images/s, diffuse against PyTorch eager (bench/autoencoder.py),
// on the digits-vae-f4 preset's network (28×28×1 → 4×7×7): training steps at batch 64 (L1 + β·KL,
// AdamW, clipping — the trainer's step without data loading) and encoding (posterior mean) at
// batch 256. Fresh worker processes alternate (diffuse, PyTorch, diffuse, …) so load drift hits
// both alike; medians. Not a test. Run under the shared machine's lock:
//
//   flock /tmp/bench.lock node bench/autoencoder.mjs [--rounds 3] [--steps 3] [--encodes 3] [--threads 2]
import { spawnSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const arg = (name, d) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : d;
};
const rounds = arg('rounds', 3);
const steps = arg('steps', 3);
const encodes = arg('encodes', 3);
const threads = arg('threads', 2);
const env = { ...process.env, OPENBLAS_NUM_THREADS: '1' };

if (process.argv.includes('--worker')) {
  const torch = await import('@diffuse/torch');
  const { Autoencoder, resolveAutoencoderConfig } = await import('../packages/diffuse/dist/src/index.js');
  torch.setNumThreads(threads);
  torch.manualSeed(0);
  const cfg = resolveAutoencoderConfig('digits-vae-f4');
  const ae = new Autoencoder(cfg.autoencoder);
  const params = ae.parameters();
  const opt = new torch.optim.AdamW(params, { lr: 1e-3, weightDecay: 0 });
  const x = torch.rand([64, 1, 28, 28]).mul(2).sub(1).keep();
  const step = () => {
    torch.tidy(() => {
      ae.zeroGrad();
      ae.lossOf(x).loss.backward();
    });
    torch.optim.clipGradNorm_(params, 1);
    torch.tidy(() => opt.step());
  };
  const train = [];
  step();
  for (let i = 0; i < steps; i++) {
    const t = performance.now();
    step();
    train.push((performance.now() - t) / 1000);
  }
  ae.eval();
  const xe = torch.rand([256, 1, 28, 28]).mul(2).sub(1).keep();
  const encode = [];
  torch.noGrad(() => torch.tidy(() => ae.encode(xe)));
  for (let i = 0; i < encodes; i++) {
    const t = performance.now();
    torch.noGrad(() => torch.tidy(() => ae.encode(xe).contiguous()));
    encode.push((performance.now() - t) / 1000);
  }
  console.log(JSON.stringify({ train, encode }));
  process.exit(0);
}

const median = (a) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)];
const runs = { diffuse: { train: [], encode: [] }, pytorch: { train: [], encode: [] } };
const loads = [];
for (let r = 0; r < rounds; r++) {
  for (const side of ['diffuse', 'pytorch']) {
    const p = side === 'diffuse'
      ? spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--worker', '--steps', String(steps), '--encodes', String(encodes), '--threads', String(threads)], { encoding: 'utf8', env })
      : spawnSync('/usr/bin/python3', [path.join(here, 'autoencoder.py'), String(steps), String(encodes), String(threads)], { encoding: 'utf8', env });
    if (p.status !== 0) throw new Error(`${side} worker failed: ${p.stderr}`);
    const o = JSON.parse(p.stdout.trim().split('\n').pop());
    runs[side].train.push(...o.train);
    runs[side].encode.push(...o.encode);
    loads.push(loadavg()[0]);
  }
}
console.log(`${cpus()[0].model.trim()}, ${threads} threads; load average during the run ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)} (shared machine)`);
const row = (what, batch, key) => {
  const d = batch / median(runs.diffuse[key]);
  const p = batch / median(runs.pytorch[key]);
  console.log(`${what.padEnd(28)} diffuse ${d.toFixed(1).padStart(7)} img/s   PyTorch ${p.toFixed(1).padStart(7)} img/s   ratio ${(d / p).toFixed(2)}×`);
};
row('training (batch 64)', 64, 'train');
row('encoding (batch 256)', 256, 'encode');
