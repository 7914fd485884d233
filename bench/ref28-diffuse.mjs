#!/usr/bin/env node
// The diffuse side of bench/ref28.mjs (not a test): runs in its own node process so that its peak
// RSS is the library's, not the harness's. Speaks the protocol of bench/ref28.py (one JSON request
// per line on stdin, one reply per line on stdout):
//
//   {"op":"setup","config":TrainConfig}  → {"numParameters": n}
//   {"op":"train","steps":3}             → {"wall": s, "cpu": s, "images": 192}
//   {"op":"sample","batch":64,"steps":50} → {"wall": s, "cpu": s, "images": 64}
//   {"op":"peak","iters":5}              → {"gflops": best GFLOP/s of a 64×64×56×56 3×3 conv forward}
//   {"op":"rss"}                         → {"maxRssKiB": process.resourceUsage().maxRSS}
//   {"op":"quit"}
//
// Training is the library's own loop, train() of packages/diffuse/src/train/trainer.ts, exactly as
// `diffuse train` runs it (timestep sampling, hybrid loss, backward, gradient clipping, AdamW,
// EMA, loss logging), fed from memory: its BatchSource hands out one fixed batch and, between
// repetitions, waits inside next() for the harness's next request, so the loop itself is timed
// from the first step of a repetition to the start of the step after its last. Sampling is
// generateImages() of the pipeline with DDIM (η = 0), as `diffuse sample` runs it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';

process.env.OPENBLAS_NUM_THREADS = '1'; // read when the addon loads libblas: set before the import
const torch = await import('@diffuse/torch');
const diffuse = await import('diffuse');
torch.setNumThreads(2);

/** Process wall and CPU clocks (CPU: all threads). */
function clocks() {
  const c = process.cpuUsage();
  return { wall: performance.now() / 1e3, cpu: (c.user + c.system) / 1e6 };
}
const since = (c0) => {
  const c = clocks();
  return { wall: c.wall - c0.wall, cpu: c.cpu - c0.cpu };
};

/** Thrown into train() (from the batch source) to end it without a final checkpoint. */
class Quit extends Error {}

/**
 * train() on a fixed batch, driven one repetition at a time.
 * @param cfg the TrainConfig.
 * @returns { rep(steps) → Promise<{wall, cpu}>, stop() → Promise<void> }.
 */
function startTraining(cfg) {
  const { batchSize: B } = cfg.optim;
  const { channels: C, imageSize: S } = cfg.model;
  torch.manualSeed(cfg.run.seed);
  const x = torch.rand([B, C, S, S]).mul_(2).sub_(1).keep(); // (B, C, H, W) in [-1, 1]
  const y = torch.zeros([B], { dtype: 'int64' }).keep(); // (B,)
  let rep = null; // { left, c0, done }
  let wake = null; // { resolve, reject } while train() waits for a repetition
  let arrived = null; // resolves when train() starts waiting
  let waiting = new Promise((r) => (arrived = r));
  const source = {
    // train() disposes each batch it gets: hand out copies.
    async next() {
      if (rep !== null) {
        if (--rep.left > 0) return { x: x.clone(), y: y.clone() };
        rep.done(since(rep.c0));
        rep = null;
      }
      const woken = new Promise((resolve, reject) => (wake = { resolve, reject }));
      arrived();
      await woken;
      const batch = { x: x.clone(), y: y.clone() };
      rep.c0 = clocks();
      return batch;
    },
    position: () => null,
  };
  const checkpointRoot = mkdtempSync(path.join(tmpdir(), 'ref28-'));
  const running = diffuse.train({ config: cfg, checkpointRoot, data: source }).catch((e) => {
    if (!(e instanceof Quit)) throw e;
  });
  const waitForWake = async () => {
    await Promise.race([waiting, running]);
    if (wake === null) throw new Error('train() ended before the harness stopped it');
    waiting = new Promise((r) => (arrived = r));
    const w = wake;
    wake = null;
    return w;
  };
  return {
    async rep(steps) {
      const w = await waitForWake();
      const done = new Promise((resolve) => (rep = { left: steps, c0: null, done: resolve }));
      w.resolve();
      return Promise.race([done, running.then(() => Promise.reject(new Error('train() ended before the repetition did')))]);
    },
    async stop() {
      (await waitForWake()).reject(new Quit());
      await running;
      rmSync(checkpointRoot, { recursive: true, force: true });
    },
  };
}

/**
 * The sampling pipeline around a freshly initialised model of the config (weights do not change
 * the work), in eval mode.
 */
function startSampling(cfg) {
  torch.manualSeed(cfg.run.seed);
  const model = torch.tidy(() => diffuse.createUNet(cfg));
  model.eval();
  torch.nn.setComputeDtype(model, diffuse.computeDtypeFor(cfg.run.precision)); // as loadPipeline does
  const pipe = diffuse.pipelineFromModel(cfg, model);
  return {
    rep(batch, steps) {
      const c0 = clocks();
      diffuse.generateImages(pipe, { n: batch, batchSize: batch, sampler: 'ddim', steps, eta: 0, seed: cfg.run.seed });
      return since(c0);
    },
  };
}

/** The parameter count of the config's UNet (a throwaway model). */
function countParameters(cfg) {
  const model = torch.tidy(() => diffuse.createUNet(cfg));
  const n = model.numParameters();
  for (const t of [...model.parameters(), ...model.buffers()]) t.dispose();
  return n;
}

/** Best GFLOP/s of a 64×64×56×56, 64→64 3×3 float32 convolution forward (as ref28.py). */
function convPeak(iters) {
  return torch.tidy(() => {
    const x = torch.randn([64, 64, 56, 56]); // (B, C, H, W)
    const w = torch.randn([64, 64, 3, 3]);
    const flops = 2 * 64 * 64 * 9 * 56 * 56 * 64;
    let best = 0;
    torch.noGrad(() => {
      torch.conv2d(x, w, undefined, { padding: 1 }).dispose(); // warm-up
      for (let i = 0; i < iters; i++) {
        const t0 = performance.now();
        torch.conv2d(x, w, undefined, { padding: 1 }).dispose();
        best = Math.max(best, flops / ((performance.now() - t0) / 1e3) / 1e9);
      }
    });
    return best;
  });
}

const reply = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

let cfg = null;
let trainer = null;
let sampler = null;
reply({ ready: true, libtorch: torch.libtorchVersion, threads: torch.getNumThreads(), cpu: torch.cpuInfo(), autoDtype: diffuse.computeDtypeFor('auto') });
for await (const line of createInterface({ input: process.stdin })) {
  const req = JSON.parse(line);
  if (req.op === 'quit') break;
  switch (req.op) {
    case 'setup':
      cfg = req.config;
      diffuse.validateConfig(cfg);
      reply({ numParameters: countParameters(cfg) });
      break;
    case 'train':
      trainer ??= startTraining(cfg);
      reply({ ...(await trainer.rep(req.steps)), images: req.steps * cfg.optim.batchSize });
      break;
    case 'sample':
      sampler ??= startSampling(cfg);
      reply({ ...sampler.rep(req.batch, req.steps), images: req.batch });
      break;
    case 'peak':
      reply({ gflops: convPeak(req.iters) });
      break;
    case 'rss':
      reply({ maxRssKiB: process.resourceUsage().maxRSS });
      break;
    default:
      throw new Error(`unknown op ${req.op}`);
  }
}
if (trainer !== null) await trainer.stop();
process.exit(0);
