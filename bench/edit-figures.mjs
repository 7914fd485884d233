#!/usr/bin/env node
// The figures of docs/editing.md (not a test): the editing tools on the shipped digits-cpu model,
// scored with the digits classifier of src/eval, and the attention-processor overhead against the
// code before processors existed.
//
//   node bench/edit-figures.mjs [sdedit] [frames] [invert] [interp] [inpaint] [overhead=/tmp/base]
//
// QUICK=1 shrinks every count to check the script runs (its numbers mean nothing).
// overhead=DIR times the ref-28 UNet forward of this tree against a build of the commit before
// processors (DIR: that tree with packages/diffuse built), interleaved, medians. Every section
// prints a markdown table.
import * as torch from '@diffuse/torch';
import {
  CrossFrameAttnProcessor, digitsTensors, inpaint, interpolate, loadDigitsExtractor, loadPipeline, ref28Config, roundTripMse,
  sdedit, UNet, withAttnProcessors,
} from 'diffuse';

torch.setNumThreads(Number(process.env.DIFFUSE_THREADS ?? 2));
const args = process.argv.slice(2);
const want = (name) => args.length === 0 || args.some((a) => a === name || a.startsWith(`${name}=`));
const pipe = loadPipeline('digits-cpu', { precision: 'fp32' });
const spec = pipe.spec;
const classifier = loadDigitsExtractor();
const classify = (x) => torch.tidy(() => classifier.extract(x).logits.argmax(1)); // (B,)
const agree = (a, b) => torch.tidy(() => a.eq(b).to('float32').mean().item());
const mse = (a, b) => torch.tidy(() => a.sub(b).square().mean().item());
const meanChange = (x) => torch.tidy(() => x.narrow(0, 1, x.size(0) - 1).sub(x.narrow(0, 0, x.size(0) - 1)).abs().mean().item());
const Q = process.env.QUICK === '1';
const held = digitsTensors(9000, Q ? 9024 : 9048); // digits the classifier was not trained on (it used the first 8,000)

if (want('sdedit')) {
  console.log('\n### SDEdit: class kept vs distance to the input (48 held-out digits, DDIM 10 steps from t₀)\n');
  console.log('| strength | class kept | MSE to input | seconds |\n|---|---|---|---|');
  const yIn = classify(held.x);
  for (const s of Q ? [0.5] : [0.2, 0.4, 0.6, 0.8, 1]) {
    const t0 = performance.now();
    const out = sdedit(spec, held.x, { sampler: 'ddim', steps: Q ? 3 : 10, strength: s, generator: new torch.Generator({ seed: 0 }) });
    const secs = (performance.now() - t0) / 1000;
    console.log(`| ${s} | ${(100 * agree(classify(out), held.y)).toFixed(1)} % | ${mse(out, held.x).toFixed(4)} | ${secs.toFixed(1)} |`);
    out.dispose();
  }
  console.log(`\n(the classifier on the inputs themselves: ${(100 * agree(yIn, held.y)).toFixed(1)} %)`);
}

if (want('frames')) {
  console.log('\n### Frame consistency: 6 sequences of 8 frames (a digit moving 1 px a frame), SDEdit s = 0.5, DDIM 10\n');
  console.log('| noise | attention | frame change (outputs / inputs) | class kept |\n|---|---|---|---|');
  const seqs = Array.from({ length: Q ? 1 : 6 }, (_, k) => torch.tidy(() => {
    const d = held.x.narrow(0, k, 1); // (1, 1, 28, 28)
    return torch.cat(Array.from({ length: 8 }, (_, f) => d.roll([f - 4], [3]))).keep(); // (8, 1, 28, 28)
  }));
  for (const [shared, cross] of [[false, false], [true, false], [true, true]]) {
    {
      let ratio = 0;
      let kept = 0;
      for (const [k, seq] of seqs.entries()) {
        const g = new torch.Generator({ seed: k });
        const noise = shared ? torch.randn([1, 1, 28, 28], { generator: g }).expand([8, 1, 28, 28]).contiguous() : undefined;
        const run = () => sdedit(spec, seq, { sampler: 'ddim', steps: Q ? 3 : 10, strength: 0.5, generator: g, noise });
        const out = cross ? withAttnProcessors(pipe.model, { 'middle_block.1': new CrossFrameAttnProcessor(8) }, run) : run();
        ratio += meanChange(out) / meanChange(seq) / seqs.length;
        kept += agree(classify(out), held.y.narrow(0, k, 1).expand([8])) / seqs.length;
        torch.dispose([out, ...(noise ? [noise] : [])]);
      }
      console.log(`| ${shared ? 'shared' : 'per frame'} | ${cross ? 'cross-frame (middle_block.1)' : 'self'} | ${ratio.toFixed(3)} | ${(100 * kept).toFixed(1)} % |`);
    }
  }
}

if (want('invert')) {
  console.log('\n### DDIM inversion round trip (16 held-out digits in [−1, 1]), by steps and top level σ_max\n');
  console.log('| σ_max | steps | mean MSE | median MSE | max MSE | seconds |\n|---|---|---|---|---|---|');
  const x = held.x.narrow(0, 0, Q ? 4 : 16);
  const cases = Q ? [[undefined, 5]] : [[undefined, 10], [undefined, 50], [10, 20], [2, 10], [2, 20]];
  for (const [sigmaMax, steps] of cases) {
    const t0 = performance.now();
    const e = roundTripMse(spec, x, { steps, sigmaMax }).sort((a, b) => a - b);
    const secs = (performance.now() - t0) / 1000;
    const mean = e.reduce((a, b) => a + b, 0) / e.length;
    console.log(`| ${sigmaMax ?? 'σ(T−1) ≈ 2·10⁴'} | ${steps} | ${mean.toFixed(4)} | ${e[e.length >> 1].toFixed(4)} | ${e[e.length - 1].toFixed(4)} | ${secs.toFixed(1)} |`);
  }
}

if (want('interp')) {
  console.log('\n### Interpolation smoothness: 3 pairs, 6 images, DDIM 20 (largest / mean step between neighbours; 1 = even)\n');
  console.log('| attention | largest / mean step | largest step (mean abs change) |\n|---|---|---|');
  for (const attention of [false, true]) {
    let rel = 0;
    let big = 0;
    for (let k = 0; k < (Q ? 1 : 3); k++) {
      const strip = interpolate(spec, held.x.narrow(0, 2 * k, 1), held.x.narrow(0, 2 * k + 1, 1), { n: 6, steps: Q ? 5 : 20, attention: attention ? pipe.model : undefined });
      const stepsK = Array.from({ length: 5 }, (_, i) => meanChange(strip.narrow(0, i, 2)));
      const largest = Math.max(...stepsK);
      rel += largest / (stepsK.reduce((a, b) => a + b, 0) / 5) / (Q ? 1 : 3);
      big += largest / (Q ? 1 : 3);
      strip.dispose();
    }
    console.log(`| ${attention ? 'interpolated K/V (middle_block.1)' : 'none'} | ${rel.toFixed(2)} | ${big.toFixed(3)} |`);
  }
}

if (want('inpaint')) {
  console.log('\n### Inpainting a 12×12 centre hole (24 held-out digits): class kept, and the hole against the original\n');
  console.log('| method | model evaluations | class kept | hole MSE to original | seconds |\n|---|---|---|---|---|');
  const m = Q ? 4 : 24;
  const x = held.x.narrow(0, 0, m);
  const y = held.y.narrow(0, 0, m);
  const mask = torch.zeros([1, 1, 28, 28]);
  mask.narrow(2, 8, 12).narrow(3, 8, 12).fill_(1);
  const holeMse = (out) => torch.tidy(() => out.sub(x).mul(mask).square().sum().item() / (m * 144));
  const cases = [
    ['ddim 20, replacement', { sampler: 'ddim', steps: Q ? 4 : 20 }, 20],
    ['ddpm 20, replacement', { sampler: 'ddpm', steps: Q ? 4 : 20 }, 20],
    ['ddpm 60, replacement', { sampler: 'ddpm', steps: Q ? 4 : 60 }, 60],
    ['ddpm 20, RePaint r = 3, j = 5', { sampler: 'ddpm', steps: Q ? 4 : 20, resample: { jumpLength: Q ? 2 : 5, resamples: Q ? 2 : 3 } }, 60],
  ];
  for (const [name, o, evals] of cases) {
    const t0 = performance.now();
    const out = inpaint(spec, x, { ...o, mask, generator: new torch.Generator({ seed: 0 }) });
    const secs = (performance.now() - t0) / 1000;
    console.log(`| ${name} | ${evals} | ${(100 * agree(classify(out), y)).toFixed(1)} % | ${holeMse(out).toFixed(4)} | ${secs.toFixed(1)} |`);
    out.dispose();
  }
}

const base = args.find((a) => a.startsWith('overhead='))?.slice('overhead='.length);
if (base !== undefined) {
  console.log('\n### Attention-processor overhead: ref-28 UNet forward, batch 64, eval, fp32 (interleaved, 7 each)\n');
  const old = await import(`${base}/packages/diffuse/dist/src/index.js`);
  const make = (Cls) => {
    const m = new Cls({ ...ref28Config(), generator: new torch.Generator({ seed: 0 }) }).eval();
    return m;
  };
  const now = make(UNet);
  const before = make(old.UNet);
  const x = torch.randn([64, 1, 28, 28], { generator: new torch.Generator({ seed: 1 }) });
  const t = torch.full([64], 500);
  const time = (m) => {
    const t0 = performance.now();
    torch.noGrad(() => m.forward(x, t)).dispose();
    return performance.now() - t0;
  };
  for (let i = 0; i < (Q ? 1 : 2); i++) { time(now); time(before); }
  const a = [];
  const b = [];
  for (let i = 0; i < (Q ? 1 : 7); i++) { a.push(time(now)); b.push(time(before)); }
  const med = (v) => v.sort((p, q) => p - q)[Math.floor(v.length / 2)];
  const same = torch.noGrad(() => now.forward(x, t).sub(before.forward(x, t)).abs().max().item());
  console.log('| code | median forward (ms) |\n|---|---|');
  console.log(`| before processors | ${med(b).toFixed(1)} |\n| with the default processor | ${med(a).toFixed(1)} |`);
  console.log(`\n(max |difference| of the outputs: ${same})`);
}
