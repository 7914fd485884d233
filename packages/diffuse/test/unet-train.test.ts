// The UNet in use: the reference config "ref-28" trains (forward + backward) with the mirror's
// parameter count, gradient checkpointing changes no gradient (dropout included), forwards free
// their intermediates, and the inputs are handled as improved-diffusion's.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';
import { createModel, ref28Config, timestepEmbedding, UNet, unetAsModelFn, type UNetConfig } from '../src/index.js';

const golden = JSON.parse(readFileSync(new URL('../../test/golden/unet_golden.json', import.meta.url), 'utf8')) as Record<
  string,
  { numParameters: number; keys: string[] }
>;

/** A small class-conditional model with dropout, for the checks that need gradients everywhere. */
const SMALL: Partial<UNetConfig> = {
  imageSize: 8, inChannels: 3, modelChannels: 32, numResBlocks: 1, channelMult: [1, 2], attentionResolutions: [2],
  numHeads: 2, dropout: 0.3, numClasses: 3, learnSigma: true, useScaleShiftNorm: true,
};

/** Replaces every parameter by N(0, 0.2²) draws (the zero-initialised ones would block gradients). */
function randomize(model: UNet, seed: number): void {
  const gen = new torch.Generator({ seed });
  torch.noGrad(() => {
    for (const p of model.parameters()) p.normal_(0, 0.2, gen);
  });
}

function maxAbsDiff(a: Tensor, b: Tensor): number {
  return torch.tidy(() => a.sub(b).abs().max().item());
}

test('ref-28 has the mirror\'s parameters and runs forward + backward at batch 2', () => {
  torch.manualSeed(0);
  const model = createModel(ref28Config());
  assert.equal(model.numParameters(), golden['ref28']!.numParameters);
  assert.deepEqual([...model.stateDict().keys()], golden['ref28']!.keys);
  assert.equal(model.outputChannels, 2);
  torch.tidy(() => {
    const x = torch.randn([2, 1, 28, 28]);
    const t = torch.tensor(new BigInt64Array([3n, 917n]));
    const out = model.forward(x, t); // (2, 2, 28, 28)
    assert.deepEqual(out.shape, [2, 2, 28, 28]);
    // zero_module on the last conv: a fresh model predicts exactly zero.
    assert.equal(out.abs().max().item(), 0);
    const w = torch.linspace(-1, 1, out.numel()).reshape(out.shape);
    out.mul(w).sum().backward();
  });
  const grads = new Map(model.namedParameters().map(([k, p]) => [k, p.grad]));
  assert.ok([...grads.values()].every((g) => g !== null && torch.tidy(() => g.isfinite().all().item()) === 1));
  // Only the output conv's weight sees a gradient while everything after it starts at zero.
  assert.ok(torch.tidy(() => grads.get('out.2.weight')!.abs().max().item()) > 0);
  model.zeroGrad();
});

test('gradient checkpointing gives the same output, gradients and RNG stream, dropout included', () => {
  const plain = new UNet({ ...SMALL, useCheckpoint: false });
  randomize(plain, 3);
  const ckpt = new UNet({ ...SMALL, useCheckpoint: true });
  ckpt.loadStateDict(plain.stateDict());
  const x = torch.randn([2, 3, 8, 8], { generator: new torch.Generator({ seed: 4 }) }).keep();
  const t = torch.tensor([10, 600]).keep();
  const y = torch.tensor(new BigInt64Array([1n, 3n])).keep(); // 3: the null class
  const step = (model: UNet, seed: number): { out: Tensor; after: Tensor } => {
    torch.manualSeed(seed);
    return torch.tidy(() => {
      const out = model.forward(x, t, { y });
      out.square().mean().add(out.mean()).backward();
      return { out: out.detach(), after: torch.rand([4]) };
    });
  };
  const a = step(plain, 11);
  const b = step(ckpt, 11);
  assert.ok(maxAbsDiff(a.out, b.out) <= 1e-6 * torch.tidy(() => a.out.abs().max().item()));
  assert.equal(maxAbsDiff(a.after, b.after), 0);
  const pb = new Map(ckpt.namedParameters());
  for (const [k, p] of plain.namedParameters()) {
    const ga = p.grad!;
    const gb = pb.get(k)!.grad!;
    const scale = torch.tidy(() => ga.abs().max().item());
    assert.ok(maxAbsDiff(ga, gb) <= 1e-5 * scale + 1e-9, `${k}: checkpointed gradient differs`);
  }
  // Dropout really was active: another seed gives another output.
  const c = step(plain, 12);
  assert.ok(maxAbsDiff(a.out, c.out) > 1e-3);
  torch.dispose([a, b, c, x, t, y]);
});

test('a forward and a training step leave no tensors behind', () => {
  for (const useCheckpoint of [false, true]) {
    const model = new UNet({ ...SMALL, useCheckpoint });
    randomize(model, 5);
    const x = torch.randn([2, 3, 8, 8]);
    const t = torch.tensor([1, 2]);
    const y = torch.tensor(new BigInt64Array([0n, 2n]));
    const before = torch.memory().tensors;
    const out = torch.noGrad(() => model.forward(x, t, { y }));
    assert.equal(torch.memory().tensors, before + 1);
    out.dispose();
    torch.tidy(() => model.forward(x, t, { y }).square().mean().backward());
    assert.equal(torch.memory().tensors, before, `useCheckpoint ${useCheckpoint}`);
    torch.dispose([x, t, y]);
  }
});

test('timestep embedding: [cos(t·f), sin(t·f)], f_i = 10000^(−i/half), zero column for an odd width', () => {
  const ts = [0, 3, 17.5];
  const dim = 9;
  const half = 4;
  const emb = timestepEmbedding(torch.tensor(ts), dim).toNested() as number[][];
  ts.forEach((t, b) => {
    for (let i = 0; i < half; i++) {
      const arg = t * Math.exp((-Math.log(10000) * i) / half);
      assert.ok(Math.abs(emb[b]![i]! - Math.cos(arg)) < 1e-5);
      assert.ok(Math.abs(emb[b]![half + i]! - Math.sin(arg)) < 1e-5);
    }
    assert.equal(emb[b]![dim - 1], 0);
  });
});

test('inputs: integer or float timesteps, one timestep for the batch, labels, and the errors', () => {
  const model = new UNet({ ...SMALL, dropout: 0 }).eval();
  randomize(model, 6);
  torch.tidy(() => {
    const x = torch.randn([2, 3, 8, 8]);
    const y = torch.tensor(new BigInt64Array([2n, 0n]));
    const floatT = model.forward(x, torch.tensor([5, 5]), { y });
    assert.equal(maxAbsDiff(floatT, model.forward(x, torch.tensor(new BigInt64Array([5n, 5n])), { y })), 0);
    assert.equal(maxAbsDiff(floatT, model.forward(x, torch.tensor([5]), { y })), 0);
    assert.equal(maxAbsDiff(floatT, unetAsModelFn(model)(x, torch.tensor([5, 5]), { y })), 0);
    assert.equal(maxAbsDiff(floatT, model.forward(x, torch.tensor([5, 5]), { y: y.to('int32') })), 0);
    // Each sample sees its own label: changing sample 1's label leaves sample 0 alone.
    const y2 = torch.tensor(new BigInt64Array([2n, 3n]));
    const other = model.forward(x, torch.tensor([5, 5]), { y: y2 });
    assert.equal(maxAbsDiff(floatT.select(0, 0), other.select(0, 0)), 0);
    assert.ok(maxAbsDiff(floatT.select(0, 1), other.select(0, 1)) > 0);
    assert.throws(() => model.forward(x, torch.tensor([5, 5])), /needs y/);
    assert.throws(() => model.forward(torch.randn([2, 3, 7, 7]), torch.tensor([5, 5]), { y }), /not divisible by 2/);
    assert.throws(() => model.forward(torch.randn([2, 1, 8, 8]), torch.tensor([5, 5]), { y }), /channels/);
    assert.throws(() => model.forward(x, torch.tensor([5, 5, 5]), { y }), /t must have shape/);
  });
  assert.equal(model.nullClassIndex, 3);
  assert.deepEqual(new UNet({ ...SMALL, nullClass: false }).labelEmb!.weight.shape, [3, 128]);
  assert.throws(() => new UNet({ ...SMALL, imageSize: 7 }), /not divisible/);
  assert.throws(() => new UNet({ ...SMALL, modelChannels: 48 }), /32 groups/);
});

test('createModel rebuilds the same architecture from the JSON of model.config; float64 agrees with float32', () => {
  const model = new UNet({ ...SMALL, dropout: 0, channelMult: null, imageSize: 32, numClasses: null, modelChannels: 32 });
  assert.deepEqual(model.config.channelMult, [1, 2, 2, 2]);
  const copy = createModel(JSON.parse(JSON.stringify(model.config)) as UNetConfig);
  assert.deepEqual([...copy.stateDict().keys()], [...model.stateDict().keys()]);
  copy.loadStateDict(model.stateDict());
  randomize(model, 7);
  copy.loadStateDict(model.stateDict());
  copy.to('float64').eval();
  model.eval();
  torch.tidy(() => {
    const x = torch.randn([1, 3, 32, 32]);
    const t = torch.tensor([250]);
    const out32 = torch.noGrad(() => model.forward(x, t));
    const out64 = torch.noGrad(() => copy.forward(x.to('float64'), t));
    assert.equal(out64.dtype, 'float64');
    const e = maxAbsDiff(out64.to('float32'), out32) / out32.abs().max().item();
    assert.ok(e < 1e-4, `float32 vs float64 relative difference ${e}`);
  });
});
