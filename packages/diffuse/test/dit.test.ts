// The DiT against a PyTorch mirror of facebookresearch/DiT's models.py (test/golden/dit_gen.py):
// state-dict keys and shapes, the adaLN-Zero modulation, attention, MLP, a whole block, the
// output on a non-square grid, unpatchify and the sin-cos positions of non-square and (t, x, y)
// grids; zero-initialised adaLN gives an exactly zero output; a tiny DiT memorises 8 images.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';
import { DiT, sincosPositions, unpatchify, EagerAttnProcessor, type DiTConfig } from '../src/index.js';
import { resolveConfig } from '../src/train/config.js';
import { createBackbone } from '../src/train/factory.js';
import { assertSameDraw } from './draws.js';

interface Golden {
  options: Partial<DiTConfig>;
  weightSeed: number;
  keys: string[];
  shapes: Record<string, number[]>;
  weightChecks: Record<string, [number, number]>;
  x: number[]; xShape: number[]; t: number[]; y: number[];
  tokens: number[]; cond: number[]; modulated: number[]; attn: number[]; mlp: number[]; block0: number[];
  out: number[]; outShape: number[];
  unpatchify: number[];
  pos2d_3x5_d16: number[];
  pos3d_2x3x2_d32: number[];
}
const golden = JSON.parse(readFileSync(new URL('../../test/golden/dit_golden.json', import.meta.url), 'utf8')) as Golden;

/** max |a − b| over all entries. */
function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'lengths');
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function values(t: Tensor): Float32Array {
  return t.contiguous().data() as Float32Array;
}

/** The golden model with the mirror's N(0, 0.2²) weights regenerated from its seed. */
function goldenModel(): DiT {
  const model = new DiT({ ...golden.options });
  const gen = new torch.Generator({ seed: golden.weightSeed });
  const sd = model.stateDict();
  assert.deepEqual([...sd.keys()], golden.keys, 'state-dict keys in the mirror\'s order');
  const weights: Record<string, Tensor> = {};
  for (const k of golden.keys) {
    assert.deepEqual(sd.get(k)!.shape, golden.shapes[k], `${k} shape`);
    const w = torch.randn(golden.shapes[k]!, { generator: gen }).mul_(0.2).keep();
    assertSameDraw(w.flatten().select(0, 0).item(), golden.weightChecks[k]![1], 0.2, `regenerated ${k}`);
    weights[k] = w;
  }
  model.loadStateDict(weights);
  torch.dispose(weights);
  model.eval();
  return model;
}

// Float32 through a few matmuls, LayerNorms and softmaxes of O(1) values: 1e-5 absolute is some
// 100 ulps at the values' scale, far below any wiring error (a wrong order or axis moves O(0.1)).
const TOL = 2e-5;
// The whole model (embedding, every block, the final layer) compounds those roundings: on ATen's
// scalar path (no AVX2: libm's tanh/exp instead of Sleef's, no FMA) its output differed by 2.3e-5
// at values up to 3.5 (~100 ulps there); 5e-5 leaves a 2× margin and is still 2,000× below a wiring error.
const TOL_MODEL = 5e-5;

test('DiT matches the PyTorch mirror: embedding, modulation, attention, MLP, a block, the output on a 2×3 grid', () => {
  const model = goldenModel();
  torch.noGrad(() => torch.tidy(() => {
    const x = torch.tensor(golden.x, { dtype: 'float32' }).reshape(golden.xShape);
    const t = torch.tensor(golden.t, { dtype: 'float32' });
    const y = torch.tensor(golden.y, { dtype: 'int64' });
    const out = model.forward(x, t, { y }); // (3, 4, 4, 6)
    assert.deepEqual(out.shape, golden.outShape);
    assert.ok(maxDiff(values(out), golden.out) < TOL_MODEL, `output differs by ${maxDiff(values(out), golden.out)}`);

    // The pieces of block 0, fed the mirror's tokens and conditioning.
    const d = golden.options.hiddenSize!;
    const tokens = torch.tensor(golden.tokens, { dtype: 'float32' }).reshape([3, 6, d]);
    const cond = torch.tensor(golden.cond, { dtype: 'float32' }).reshape([3, d]);
    const { tokens: ours } = model.xEmbedder.forward(x);
    const pos = torch.tensor(sincosPositions(d, [2, 3])).reshape([1, 6, d]);
    assert.ok(maxDiff(values(ours.add(pos)), golden.tokens) < TOL, 'patch embedding + positions');
    const block = model.blocks.items[0]!;
    const modulated = torch.tensor(golden.modulated, { dtype: 'float32' }).reshape([3, 6, d]);
    assert.ok(maxDiff(values(block.attn.forward(modulated)), golden.attn) < TOL, 'attention');
    assert.ok(maxDiff(values(block.mlp.forward(modulated)), golden.mlp) < TOL, 'MLP (GELU-tanh)');
    assert.ok(maxDiff(values(block.forward(tokens, cond)), golden.block0) < TOL, 'adaLN-Zero block');
  }));
});

test('attention processors reach the DiT layers: eager equals fused, paths are blocks.i.attn', () => {
  const model = goldenModel();
  assert.deepEqual([...model.attnProcessors.keys()], ['blocks.0.attn', 'blocks.1.attn']);
  torch.noGrad(() => torch.tidy(() => {
    const x = torch.tensor(golden.x, { dtype: 'float32' }).reshape(golden.xShape);
    const t = torch.tensor(golden.t, { dtype: 'float32' });
    const y = torch.tensor(golden.y, { dtype: 'int64' });
    const fused = values(model.forward(x, t, { y }));
    model.setAttnProcessor(new EagerAttnProcessor());
    assert.ok(maxDiff(values(model.forward(x, t, { y })), fused) < TOL);
  }));
});

test('positions from coordinates: a 3×5 grid and a 2×3×2 (t, y, x) grid equal the mirror\'s sin-cos tables', () => {
  assert.ok(maxDiff(sincosPositions(16, [3, 5]), golden.pos2d_3x5_d16) < 1e-6);
  assert.ok(maxDiff(sincosPositions(32, [2, 3, 2]), golden.pos3d_2x3x2_d32) < 1e-6);
});

test('unpatchify: DiT\'s nhwpqc → nchpwq on a 2×3 grid', () => {
  torch.tidy(() => {
    const tokens = torch.arange(0, 2 * 6 * 16, 1, { dtype: 'float32' }).reshape([2, 6, 16]);
    const img = unpatchify(tokens, [2, 3], 2, 1, 4); // (2, 4, 4, 6)
    assert.deepEqual(img.shape, [2, 4, 4, 6]);
    assert.equal(maxDiff(values(img), golden.unpatchify), 0);
  });
});

test('adaLN-Zero: an untrained DiT outputs exactly zero, images of any divisible size and clips', () => {
  torch.noGrad(() => torch.tidy(() => {
    const image = new DiT({ inChannels: 1, patchSize: 2, hiddenSize: 32, depth: 2, numHeads: 2, numClasses: 10 });
    for (const [h, w] of [[8, 8], [6, 14], [28, 28]] as const) {
      const out = image.forward(torch.randn([2, 1, h, w]), torch.tensor([3, 900]), { y: torch.tensor([1, 10], { dtype: 'int64' }) });
      assert.deepEqual(out.shape, [2, 2, h, w]);
      assert.equal(out.abs().max().item(), 0);
    }
    const clip = new DiT({ inChannels: 1, patchSize: 2, temporalPatch: 2, clip: true, hiddenSize: 32, depth: 1, numHeads: 2, learnSigma: false });
    const out = clip.forward(torch.randn([1, 1, 4, 6, 8]), torch.tensor([7]));
    assert.deepEqual(out.shape, [1, 1, 4, 6, 8]);
    assert.equal(out.abs().max().item(), 0);
  }));
});

test('shape errors: H not divisible by p, a clip given to an image model, channels', () => {
  const m = new DiT({ inChannels: 1, patchSize: 4, hiddenSize: 32, depth: 1, numHeads: 2 });
  const t = torch.tensor([1]);
  assert.throws(() => m.forward(torch.zeros([1, 1, 10, 8]), t), /size 10×8 is not divisible by the patch size 4/);
  assert.throws(() => m.forward(torch.zeros([1, 1, 2, 8, 8]), t), /image model takes \(B, C, H, W\).*a clip/);
  assert.throws(() => m.forward(torch.zeros([1, 3, 8, 8]), t), /3 channels, the model takes 1/);
  assert.throws(() => new DiT({ patchSize: 3 }), /patchSize must be 1, 2 or 4/);
  t.dispose();
});

test('a tiny DiT memorises 8 images (x₀ prediction from x_t with ᾱ_t ≥ 0.79)', () => {
  // One thread: the tiny ops are latency-bound, and on a loaded 2-core machine two threads spin.
  const threads = torch.getNumThreads();
  torch.setNumThreads(1);
  torch.manualSeed(0);
  const model = new DiT({ inChannels: 1, patchSize: 2, hiddenSize: 64, depth: 2, numHeads: 4, learnSigma: false });
  const images = torch.rand([8, 1, 8, 8]).mul_(2).sub_(1).keep(); // (8, 1, 8, 8) in [-1, 1]
  const steps = 100;
  const tMax = 30; // ᾱ_t ≥ cos²(0.15π) ≈ 0.79
  const alphaBar = (t: Tensor): Tensor => t.div(steps).mul(Math.PI / 2).cos().pow(2); // cosine-like ᾱ_t
  const lossAt = (): number => torch.noGrad(() => torch.tidy(() => {
    const gen = new torch.Generator({ seed: 7 });
    const t = torch.randint(0, tMax, [64], { generator: gen }).to('float32');
    const x0 = images.repeat([8, 1, 1, 1]);
    const ab = alphaBar(t).reshape([64, 1, 1, 1]);
    const xt = x0.mul(ab.sqrt()).add(torch.randn([64, 1, 8, 8], { generator: gen }).mul(ab.neg().add(1).sqrt()));
    return model.forward(xt, t).sub(x0).pow(2).mean().item();
  }));
  const before = lossAt();
  const opt = new torch.optim.AdamW(model.parameters(), { lr: 1e-3, weightDecay: 0 });
  for (let i = 0; i < 800; i++) {
    torch.tidy(() => {
      const t = torch.randint(0, tMax, [8]).to('float32');
      const ab = alphaBar(t).reshape([8, 1, 1, 1]);
      const xt = images.mul(ab.sqrt()).add(torch.randn([8, 1, 8, 8]).mul(ab.neg().add(1).sqrt()));
      const loss = model.forward(xt, t).sub(images).pow(2).mean();
      opt.zeroGrad();
      loss.backward();
      opt.step();
    });
  }
  const after = lossAt();
  images.dispose();
  torch.setNumThreads(threads);
  // Zero output at the start: the loss is E[x₀²] = 1/3. The best per-pixel linear (Wiener)
  // denoiser of these i.i.d. uniform pixels has MSE (1/3)·s/(1/3 + s), s = (1 − ᾱ)/ᾱ: about 0.05 on
  // average over these t; below 0.02 the model must recognise which of the 8 images it is given.
  assert.ok(before > 0.25, `initial loss ${before}`);
  assert.ok(after < 0.02, `loss after 800 steps ${after} (from ${before})`);
});

test('the digits-dit preset builds the DiT it names: 4,165,456 parameters, as the PyTorch mirror (bench/dit.py) counts', () => {
  const net = torch.tidy(() => createBackbone(resolveConfig('digits-dit')));
  assert.ok(net instanceof DiT);
  assert.equal(net.parameters().reduce((a, p) => a + p.numel(), 0), 4_165_456);
  assert.deepEqual([net.config.patchSize, net.config.hiddenSize, net.config.depth, net.config.numHeads, net.config.learnSigma], [4, 192, 6, 4, false]);
  torch.dispose(net.parameters());
});

test('bfloat16 mixed precision: the linears run in bf16, the output stays float32 and near the float32 one', { skip: !torch.cpuInfo().bf16Kernels && 'no bfloat16 kernels on this CPU' }, () => {
  const model = goldenModel();
  torch.noGrad(() => torch.tidy(() => {
    const x = torch.tensor(golden.x, { dtype: 'float32' }).reshape(golden.xShape);
    const t = torch.tensor(golden.t, { dtype: 'float32' });
    const y = torch.tensor(golden.y, { dtype: 'int64' });
    torch.nn.setComputeDtype(model, 'bfloat16');
    const low = model.forward(x, t, { y });
    assert.equal(low.dtype, 'float32');
    // bfloat16 rounds each linear's operands to 8 mantissa bits (relative 2^-9 ≈ 0.2 %); the output
    // passes ~12 linears (t-embedding, 5 per block, head), so a relative RMS error of ~12 × 0.2 %
    // ≈ 2.4 % is the scale to expect; 5 % bounds it, while a wrong wiring moves it by O(100 %).
    const ours = values(low);
    let num = 0;
    let den = 0;
    for (let i = 0; i < ours.length; i++) {
      num += (ours[i]! - golden.out[i]!) ** 2;
      den += golden.out[i]! ** 2;
    }
    const rel = Math.sqrt(num / den);
    assert.ok(rel > 0, 'bf16 changed nothing: the linears did not run in bfloat16');
    assert.ok(rel < 0.05, `bf16 output's relative RMS error ${rel}`);
  }));
});
