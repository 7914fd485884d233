#!/usr/bin/env node
// The edges-to-digit demo of docs/controlnet.md: train a Canny ControlNet beside the shipped
// digits-cpu model, then draw one digit per control map (the Canny edges of held-out digits) at
// several conditioning scales, and measure how faithfully the edges are followed (edge F1 of the
// samples' own Canny maps vs the control, 1-pixel tolerance), whether the digit is the one the
// edges came from (the digits classifier), and the ControlNet's cost per sampling step.
//   DIFFUSE_THREADS=1 node packages/diffuse/scripts/controlnet-demo.mjs OUT [--minutes 3 | --steps N] [--n 100] [--scales 0,0.5,1,1.5]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import * as torch from '@diffuse/torch';
import {
  canny, controlledModelFn, controlMap, edgeF1, generateImages, loadControlNet, loadDigitsExtractor, loadMnistDigits, loadPipeline,
  makeGrid, MNIST_SIZE, TRAIN_DIGITS, writeNpz, writePng,
} from 'diffuse';

const argv = process.argv.slice(2);
const out = argv[0];
if (!out || out.startsWith('--')) {
  console.error('usage: controlnet-demo.mjs OUT [--minutes M] [--n N] [--scales a,b,…]');
  process.exit(2);
}
const opt = (name, d) => {
  const i = argv.indexOf(`--${name}`);
  return i < 0 ? d : argv[i + 1];
};
const minutes = Number(opt('minutes', 3));
// --steps N trains N steps whatever the machine's load (the figures then compare across runs).
const steps = opt('steps', undefined);
const budget = steps !== undefined ? ['--steps', String(steps), '--minutes', '0'] : ['--minutes', String(minutes), '--steps', '1000000'];
const n = Number(opt('n', 100));
const scales = String(opt('scales', '0,0.5,1,1.5')).split(',').map(Number);
const BIN = fileURLToPath(new URL('../bin/diffuse.js', import.meta.url));
mkdirSync(out, { recursive: true });

// 1. Train (the CLI, as a user runs it) on the first 8,000 bundled digits, so the controls drawn
// from the rest are held out; under /usr/bin/time for the peak memory.
const all = loadMnistDigits();
const px = MNIST_SIZE * MNIST_SIZE;
const trainSet = path.join(out, 'train.npz');
await writeNpz(trainSet, { arr_0: { dtype: 'uint8', shape: [TRAIN_DIGITS, 28, 28, 1], data: all.images.subarray(0, TRAIN_DIGITS * px) } });
const run = path.join(out, 'cn');
let training = null;
if (!existsSync(path.join(run, 'controlnet.safetensors'))) {
  const r = spawnSync('/usr/bin/time', ['-v', process.execPath, BIN, 'controlnet', 'train', '--checkpoint', 'digits-cpu', '--control', 'canny', '--data', trainSet,
    '--out', run, ...budget, '--log-interval', '50', '--save-interval', '0'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  const rows = readFileSync(path.join(run, 'log.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const ips = rows.slice(1).map((x) => x.imgPerSec).sort((a, b) => a - b);
  training = { steps: rows.at(-1)?.step, imgPerSec: ips[Math.floor(ips.length / 2)] ?? rows[0]?.imgPerSec, peakRssMb: Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr)?.[1]) / 1024, summary: r.stdout.split('\n').find((l) => l.startsWith('ControlNet:')) };
  console.log(training);
}

// 2. Control maps: the Canny edges of held-out digits (the first n of mnist:test, which the
// bundled order interleaves by class), with their labels.
const from = TRAIN_DIGITS;
const digits = torch.tensor(Float32Array.from(all.images.subarray(from * px, (from + n) * px), (v) => v / 127.5 - 1), { shape: [n, 1, 28, 28] }).keep();
const labels = Array.from(all.labels.subarray(from, from + n));
const maps = controlMap('canny', digits).keep(); // (n, 1, 28, 28) in {−1, 1}
const mapBytes = Uint8Array.from(maps.data(), (v) => (v > 0 ? 255 : 0));

// 3. Samples per scale, and the base alone for the cost per step.
const extractor = loadDigitsExtractor();
const rows = [];
const grid = [Uint8Array.from(mapBytes.subarray(0, 10 * px))];
const sampleOnce = (controlScale) => {
  const pipe = loadPipeline('digits-cpu');
  let loaded = null;
  if (controlScale !== null) {
    loaded = loadControlNet(pipe.model, run);
    pipe.spec = { ...pipe.spec, model: controlledModelFn(pipe.model, loaded.cn, controlScale) };
  }
  const t0 = Date.now();
  const imgs = generateImages(pipe, {
    n, batchSize: n, sampler: 'ddim', steps: 25, seed: 0,
    batchKwargs: loaded === null ? undefined : (start, count) => ({ control: maps.narrow(0, start, count) }),
  });
  const secondsPerStep = (Date.now() - t0) / 1000 / 25;
  torch.dispose(Object.fromEntries(pipe.model.stateDict()));
  return { imgs, secondsPerStep };
};
const base = sampleOnce(null);
console.log({ baseSecondsPerStep: base.secondsPerStep });
for (const scale of scales) {
  const { imgs, secondsPerStep } = sampleOnce(scale);
  let f1 = 0;
  for (let i = 0; i < n; i++) {
    const own = canny(imgs.images.subarray(i * px, (i + 1) * px), 28, 28, { low: 100, high: 200 });
    f1 += edgeF1(own, mapBytes.subarray(i * px, (i + 1) * px), 28, 28).f1 / n;
  }
  const agree = torch.tidy(() => {
    const x = torch.tensor(Float32Array.from(imgs.images, (v) => v / 127.5 - 1), { shape: [n, 1, 28, 28] });
    const pred = extractor.extract(x).logits.argmax(1).toArray();
    return pred.filter((p, i) => p === labels[i]).length / n;
  });
  rows.push({ scale, edgeF1: f1, sameDigit: agree, secondsPerStep });
  console.log(rows.at(-1));
  grid.push(Uint8Array.from(imgs.images.subarray(0, 10 * px)));
}
const flat = new Uint8Array(grid.length * 10 * px);
grid.forEach((g, i) => flat.set(g, i * 10 * px));
await writePng(path.join(out, 'controlnet.png'), makeGrid({ data: flat, n: 10 * grid.length, height: 28, width: 28, channels: 1 }, { nrow: 10 }));
writeFileSync(path.join(out, 'results.json'), JSON.stringify({ n, training, baseSecondsPerStep: base.secondsPerStep, rows, threads: torch.getNumThreads() }, null, 1) + '\n');
console.log('\n| scale | edge F1 | same digit as the edges\' source | s per DDIM step (batch ' + n + ') |\n|---|---|---|---|');
console.log(`| base alone | | | ${base.secondsPerStep.toFixed(3)} |`);
for (const r of rows) console.log(`| ${r.scale} | ${r.edgeF1.toFixed(3)} | ${(100 * r.sameDigit).toFixed(0)} % | ${r.secondsPerStep.toFixed(3)} |`);
