#!/usr/bin/env node
// The LoRA demo of docs/lora.md: fine-tune the shipped digits-cpu model on one digit class, then
// sample at several LoRA scales and measure how the samples move — the digits classifier's share
// of the target class, and FID (digits features) to the target class and to all digits. With
// --full-seconds S it also times S seconds of full training of the same model for comparison.
//   DIFFUSE_THREADS=1 node packages/diffuse/scripts/lora-demo.mjs OUT [--digit 3] [--minutes 3 | --steps N]
//     [--n 500] [--scales 0,0.25,0.5,1,1.5] [--full-seconds 60]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import * as torch from '@diffuse/torch';
import {
  applyLoras, evaluateImageSets, generateImages, loadDigitsExtractor, loadMnistDigits, loadPipeline, makeGrid, MNIST_SIZE,
  writeNpz, writePng,
} from 'diffuse';

const argv = process.argv.slice(2);
const out = argv[0];
if (!out || out.startsWith('--')) {
  console.error('usage: lora-demo.mjs OUT [--digit K] [--minutes M] [--n N] [--scales a,b,…] [--full-seconds S]');
  process.exit(2);
}
const opt = (name, d) => {
  const i = argv.indexOf(`--${name}`);
  return i < 0 ? d : argv[i + 1];
};
const digit = Number(opt('digit', 3));
const minutes = Number(opt('minutes', 3));
// --steps N trains N steps whatever the machine's load (the figures then compare across runs).
const steps = opt('steps', undefined);
const budget = steps !== undefined ? ['--steps', String(steps), '--minutes', '0'] : ['--minutes', String(minutes), '--steps', '1000000'];
const n = Number(opt('n', 500));
const scales = String(opt('scales', '0,0.25,0.5,1,1.5')).split(',').map(Number);
const fullSeconds = Number(opt('full-seconds', 0));
const BIN = fileURLToPath(new URL('../bin/diffuse.js', import.meta.url));
mkdirSync(out, { recursive: true });

/** Runs the CLI under /usr/bin/time -v; returns stdout and the peak RSS in MB. */
function timedDiffuse(args) {
  const r = spawnSync('/usr/bin/time', ['-v', process.execPath, BIN, ...args], { encoding: 'utf8', env: process.env });
  if (r.status !== 0) throw new Error(`diffuse ${args.join(' ')}: exit ${r.status}\n${r.stderr}`);
  const rss = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr)?.[1] ?? NaN) / 1024;
  return { stdout: r.stdout, rssMb: rss };
}

/** Median img/s of the log rows after the first (which includes start-up). */
function imgPerSec(run) {
  const rows = readFileSync(path.join(run, 'log.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((r) => !r.eval);
  const v = rows.slice(1).map((r) => r.imgPerSec).sort((a, b) => a - b);
  return v.length ? v[Math.floor(v.length / 2)] : rows[0]?.imgPerSec;
}

// 1. The target set: every bundled digit of one class.
const all = loadMnistDigits();
const px = MNIST_SIZE * MNIST_SIZE;
const idx = [...all.labels.keys()].filter((i) => all.labels[i] === digit);
const images = new Uint8Array(idx.length * px);
idx.forEach((j, i) => images.set(all.images.subarray(j * px, (j + 1) * px), i * px));
const target = path.join(out, `digit-${digit}.npz`);
await writeNpz(target, { arr_0: { dtype: 'uint8', shape: [idx.length, MNIST_SIZE, MNIST_SIZE, 1], data: images } });
console.log(`target: ${idx.length} digits '${digit}' → ${target}`);

// 2. The fine-tune (the CLI, as a user runs it).
const ft = path.join(out, 'ft');
let finetune = null;
if (!existsSync(path.join(ft, 'lora.safetensors'))) {
  const r = timedDiffuse(['finetune', '--checkpoint', 'digits-cpu', '--data', target, '--out', ft, '--targets', 'attn,res', '--lora-rank', '4',
    ...budget, '--log-interval', '50', '--save-interval', '0', '--lr', '1e-3']);
  const state = JSON.parse(readFileSync(path.join(ft, 'checkpoints', readFileSync(path.join(ft, 'checkpoints', 'latest'), 'utf8').trim(), 'state.json'), 'utf8'));
  finetune = { steps: state.step, seconds: state.seconds, imgPerSec: imgPerSec(ft), peakRssMb: r.rssMb, summary: r.stdout.split('\n').find((l) => l.startsWith('adapter:')) };
  console.log(finetune);
}

// 3. Full training of the same model, for the cost comparison.
let full = null;
if (fullSeconds > 0) {
  const run = path.join(out, 'full');
  const r = timedDiffuse(['train', '--preset', 'digits-cpu', '--data', target, '--out', run, '--minutes', String(fullSeconds / 60), '--steps', '1000000', '--log-interval', '50', '--save-interval', '0']);
  full = { imgPerSec: imgPerSec(run), peakRssMb: r.rssMb };
  console.log({ full });
}

// 4. Samples at each scale: the classifier's share of the digit, FID to the digit and to all digits.
const extractor = loadDigitsExtractor();
const rows = [];
const gridRows = [];
for (const scale of scales) {
  const pipe = loadPipeline('digits-cpu');
  if (scale !== 0) applyLoras(pipe.model, [{ path: ft, scale }]);
  const t0 = Date.now();
  const imgs = generateImages(pipe, { n, batchSize: 100, sampler: 'ddim', steps: 25, seed: 0 });
  const secs = (Date.now() - t0) / 1000;
  const file = path.join(out, `samples-${scale}.npz`);
  await writeNpz(file, { arr_0: { dtype: 'uint8', shape: [n, 28, 28, 1], data: imgs.images } });
  const share = torch.tidy(() => {
    const x = torch.tensor(Float32Array.from(imgs.images, (v) => v / 127.5 - 1), { shape: [n, 1, 28, 28] });
    const { logits } = extractor.extract(x);
    return logits.argmax(1).eq(digit).to('float32').mean().item();
  });
  const toDigit = await evaluateImageSets(file, target, extractor, { cache: false });
  const toAll = await evaluateImageSets(file, 'mnist', extractor, {});
  rows.push({ scale, share, fidDigit: toDigit.fid, fidAll: toAll.fid, seconds: secs });
  console.log(rows.at(-1));
  gridRows.push(imgs.images.subarray(0, 10 * px));
  torch.dispose(Object.fromEntries(pipe.model.stateDict()));
}
const grid = makeGrid({ data: Uint8Array.from(gridRows.flatMap((r) => [...r])), n: 10 * scales.length, height: 28, width: 28, channels: 1 }, { nrow: 10 });
await writePng(path.join(out, 'scales.png'), grid);
const adapterBytes = statSync(path.join(ft, 'lora.safetensors')).size;
writeFileSync(path.join(out, 'results.json'), JSON.stringify({ digit, n, finetune, full, adapterBytes, rows, threads: torch.getNumThreads() }, null, 1) + '\n');
console.log('\n| scale | share of ' + digit + ' | FID to ' + digit + 's | FID to all digits |\n|---|---|---|---|');
for (const r of rows) console.log(`| ${r.scale} | ${(100 * r.share).toFixed(1)} % | ${r.fidDigit.toFixed(2)} | ${r.fidAll.toFixed(2)} |`);
