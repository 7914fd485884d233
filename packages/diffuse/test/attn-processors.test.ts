// Attention processors on the UNet: listing and setting by path, the default unchanged, an eager
// re-implementation agreeing, K/V injection from the same image being the identity, cross-frame
// attention on identical frames being self-attention, interpolation at its ends.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as torch from '@diffuse/torch';
import { nn, type Tensor } from '@diffuse/torch';
import {
  CrossFrameAttnProcessor, DEFAULT_ATTN_PROCESSOR, DefaultAttnProcessor, EagerAttnProcessor, InterpolatingAttnProcessor,
  KvInjectionProcessor, KvRecordProcessor, KvStore, onLayers, UNet, UnknownAttnLayerError, type AttnProcessor,
} from '../src/index.js';

/** A tiny UNet with attention at 1/2 resolution and in the middle; every weight random, so attention matters. */
function tinyUNet(newOrder = false): UNet {
  const g = new torch.Generator({ seed: 3 });
  const model = new UNet({
    inChannels: 1, modelChannels: 8, outChannels: 1, numResBlocks: 1, channelMult: [1, 2],
    attentionResolutions: [2], numHeads: 2, useNewAttentionOrder: newOrder, dropout: 0, generator: g,
  });
  // zero_module leaves proj_out at zero, which would hide every processor: redraw all weights,
  // the attention's large enough that its output moves the model's (a peaked softmax).
  torch.noGrad(() => { for (const [name, p] of model.namedParameters()) nn.init.normal_(p, 0, /qkv|proj_out/.test(name) ? 1 : 0.2, g); });
  return model.eval();
}

function inputs(b: number, seed = 1): { x: Tensor; t: Tensor } {
  const g = new torch.Generator({ seed });
  return { x: torch.randn([b, 1, 8, 8], { generator: g }).keep(), t: torch.full([b], 500).keep() };
}

const run = (m: UNet, x: Tensor, t: Tensor): Tensor => torch.noGrad(() => m.forward(x, t)).keep();
const maxDiff = (a: Tensor, b: Tensor): number => torch.tidy(() => a.sub(b).abs().max().item());
const maxAbs = (a: Tensor): number => torch.tidy(() => a.abs().max().item());

test('attnProcessors lists every attention layer by path; set by map, processor or function', () => {
  const m = tinyUNet();
  const paths = [...m.attnProcessors.keys()];
  assert.deepEqual(paths, ['input_blocks.3.1', 'middle_block.1', 'output_blocks.0.1', 'output_blocks.1.1']);
  assert.ok([...m.attnProcessors.values()].every((p) => p === DEFAULT_ATTN_PROCESSOR));
  const eager = new EagerAttnProcessor();
  m.setAttnProcessor({ 'middle_block.1': eager });
  assert.equal(m.attnProcessors.get('middle_block.1'), eager);
  assert.equal(m.attnProcessors.get('input_blocks.3.1'), DEFAULT_ATTN_PROCESSOR); // unnamed layers keep theirs
  m.setAttnProcessor(onLayers(eager));
  assert.deepEqual([...m.attnProcessors.values()].map((p) => p.name), ['default', 'eager', 'eager', 'eager']);
  m.setAttnProcessor(DEFAULT_ATTN_PROCESSOR);
  assert.ok([...m.attnProcessors.values()].every((p) => p === DEFAULT_ATTN_PROCESSOR));
  // An unknown path is one error naming it, and nothing is set.
  assert.throws(() => m.setAttnProcessor(new Map<string, AttnProcessor>([['middle_block.1', eager], ['output_blocks.9.1', eager]])), (e: Error) =>
    e instanceof UnknownAttnLayerError && /'output_blocks\.9\.1'/.test(e.message) && !e.message.includes('\n'));
  assert.equal(m.attnProcessors.get('middle_block.1'), DEFAULT_ATTN_PROCESSOR);
});

test('the default processor set explicitly is bit-identical; an eager re-implementation agrees', () => {
  for (const newOrder of [false, true]) {
    const m = tinyUNet(newOrder);
    const { x, t } = inputs(3);
    const before = run(m, x, t);
    m.setAttnProcessor(new DefaultAttnProcessor());
    const again = run(m, x, t);
    // Same process, same ops, same shapes: bit-identical by construction.
    assert.equal(maxDiff(before, again), 0);
    m.setAttnProcessor(new EagerAttnProcessor());
    const eager = run(m, x, t);
    // The fused kernel and matmul+softmax sum in different orders: float32 rounding only.
    assert.ok(maxDiff(before, eager) <= 1e-4 * maxAbs(before), `eager vs default ${maxDiff(before, eager)}`);
    torch.dispose([x, t, before, again, eager]);
  }
});

test('K/V injection from the same image is the identity; from another image it changes the output', () => {
  const m = tinyUNet();
  const { x, t } = inputs(1);
  const plain = run(m, x, t);
  const store = new KvStore();
  m.setAttnProcessor(new KvRecordProcessor(store));
  const recorded = run(m, x, t);
  assert.equal(store.size, 4); // one entry per layer at this timestep
  m.setAttnProcessor(new KvInjectionProcessor(store));
  const injected = run(m, x, t);
  // Recording and injection both compute eager attention on the same K, V and queries: identical
  // ops on identical inputs; against the fused default only float32 rounding.
  assert.equal(maxDiff(recorded, injected), 0);
  assert.ok(maxDiff(plain, injected) <= 1e-4 * maxAbs(plain));
  // One reference serves a batch; another image's own K/V differ.
  const other = inputs(2, 7);
  const fromRef = run(m, other.x, other.t);
  m.setAttnProcessor(DEFAULT_ATTN_PROCESSOR);
  const own = run(m, other.x, other.t);
  assert.ok(maxDiff(fromRef, own) > 1e-3, 'injection had no effect');
  // At a timestep never recorded: one clear error.
  m.setAttnProcessor(new KvInjectionProcessor(store));
  assert.throws(() => run(m, x, torch.full([1], 10)), /nothing recorded for layer 'input_blocks\.3\.1'/);
  store.dispose();
  torch.dispose([x, t, plain, recorded, injected, fromRef, own, other.x, other.t]);
});

test('cross-frame attention on identical frames equals self-attention; on different frames it differs', () => {
  const m = tinyUNet();
  const one = inputs(1);
  const frames = one.x.expand([4, 1, 8, 8]).contiguous().keep();
  const t = torch.full([4], 300).keep();
  m.setAttnProcessor(new EagerAttnProcessor());
  const self = run(m, frames, t);
  m.setAttnProcessor(new CrossFrameAttnProcessor(4)); // every layer
  const cross = run(m, frames, t);
  // Keys listed twice leave the softmax-weighted mean unchanged, up to float32 summation order.
  assert.ok(maxDiff(self, cross) <= 1e-4 * maxAbs(self), `identical frames: ${maxDiff(self, cross)}`);
  const varied = inputs(4, 9);
  const a = run(m, varied.x, t);
  m.setAttnProcessor(new EagerAttnProcessor());
  const b = run(m, varied.x, t);
  // Frame 0 attends to itself only (twice): unchanged; later frames see frame 0's tokens.
  assert.ok(maxDiff(a.narrow(0, 0, 1), b.narrow(0, 0, 1)) <= 1e-4 * maxAbs(b));
  assert.ok(maxDiff(a.narrow(0, 1, 3), b.narrow(0, 1, 3)) > 1e-3);
  assert.throws(() => { m.setAttnProcessor(new CrossFrameAttnProcessor(3)); run(m, varied.x, t); }, /not a multiple of 3 frames/);
  torch.dispose([one.x, one.t, frames, t, self, cross, varied.x, varied.t, a, b]);
});

test('attention interpolation reproduces each end at α = 0 and α = 1', () => {
  const m = tinyUNet();
  const A = inputs(1, 4);
  const B = inputs(1, 5);
  const storeA = new KvStore();
  const storeB = new KvStore();
  m.setAttnProcessor(new KvRecordProcessor(storeA));
  const outA = run(m, A.x, A.t);
  m.setAttnProcessor(new KvRecordProcessor(storeB));
  const outB = run(m, B.x, B.t);
  m.setAttnProcessor(new InterpolatingAttnProcessor(storeA, storeB, [0, 0.5, 1]));
  const x = torch.cat([A.x, A.x, B.x]).keep(); // the queries of A at α = 0 and of B at α = 1
  const mixed = run(m, x, torch.full([3], 500));
  // lerp at α = 0 or 1 returns an end exactly; batch size changes the kernels, hence the tolerance.
  assert.ok(maxDiff(mixed.narrow(0, 0, 1), outA) <= 1e-4 * maxAbs(outA));
  assert.ok(maxDiff(mixed.narrow(0, 2, 1), outB) <= 1e-4 * maxAbs(outB));
  storeA.dispose();
  storeB.dispose();
  torch.dispose([A.x, A.t, B.x, B.t, outA, outB, x, mixed]);
});
