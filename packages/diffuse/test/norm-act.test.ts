// The UNet's fused norm chains (models/norm-act.ts): the fused path (CPU float32) and the module
// composition it falls back to (here float64) agree, dropout follows the module's training flag,
// computeDtype 'bfloat16' hands bfloat16 to the conv, and UNet.computeDtype reaches every block.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as torch from '@diffuse/torch';
import { nn, type Tensor } from '@diffuse/torch';
import { AttentionBlock, normAct, normalization, ResBlock, UNet } from '../src/index.js';

// Where oneDNN has no bfloat16 kernels (an AVX2 CPU, or DNNL_MAX_CPU_ISA=AVX2) a bfloat16 conv cannot run.
const NO_BF16_CONV = torch.cpuInfo().bf16Kernels ? false : `oneDNN has no bfloat16 convolutions on ${torch.cpuInfo().onednnIsa} (bfloat16 needs AVX-512; diffuse refuses --precision bf16 there)`;

function setup() {
  torch.manualSeed(3);
  const norm = normalization(64);
  torch.noGrad(() => {
    norm.weight!.normal_(1, 0.2);
    norm.bias!.normal_(0, 0.2);
  });
  const x = torch.randn([2, 64, 5, 5]).mul_(2).add_(0.3); // (B, C, H, W)
  const scale = torch.randn([2, 64, 1, 1]).mul_(0.3); // (B, C, 1, 1)
  const shift = torch.randn([2, 64, 1, 1]).mul_(0.3); // (B, C, 1, 1)
  return { norm, x, scale, shift };
}

test('normAct: the fused float32 path equals the float64 module composition (output and gradients)', () => {
  const { norm, x, scale, shift } = setup();
  const norm64 = normalization(64);
  norm64.loadStateDict(new Map([...norm.stateDict()].map(([k, v]) => [k, v.to('float64')])));
  norm64.to('float64');
  const dropout = new nn.Dropout(0.5).eval();
  torch.tidy(() => {
    const xs = [x.clone().requiresGrad_(), x.to('float64').requiresGrad_()];
    const outs = [normAct(norm, xs[0]!, { scale, shift, silu: true, dropout }), normAct(norm64, xs[1]!, { scale: scale.to('float64'), shift: shift.to('float64'), silu: true, dropout })];
    assert.equal(outs[0]!.dtype, 'float32');
    assert.equal(outs[1]!.dtype, 'float64');
    assert.ok(outs[0]!.to('float64').sub(outs[1]!).abs().max().item() < 1e-5, 'output');
    const w = torch.linspace(-1, 1, x.numel()).reshape(x.shape);
    outs.forEach((o) => o.mul(w.to(o.dtype)).sum().backward());
    assert.ok(xs[0]!.grad!.to('float64').sub(xs[1]!.grad!).abs().max().item() < 1e-4, 'x gradient');
    assert.ok(norm.weight!.grad!.to('float64').sub(norm64.weight!.grad!).abs().max().item() < 1e-4, 'weight gradient');
  });
});

test('normAct: dropout only in training mode; computeDtype bfloat16 gives the bfloat16 rounding of the float32 result', () => {
  const { norm, x } = setup();
  const dropout = new nn.Dropout(0.5);
  torch.tidy(() => {
    const full = normAct(norm, x, { silu: true });
    const eval_ = normAct(norm, x, { silu: true, dropout: dropout.eval() });
    assert.equal(eval_.sub(full).abs().max().item(), 0);
    const train = normAct(norm, x, { silu: true, dropout: dropout.train() });
    const frac = train.eq(0).float().mean().item();
    assert.ok(Math.abs(frac - 0.5) < 0.05, `dropped fraction ${frac}`);
    const bf = normAct(norm, x, { silu: true, computeDtype: 'bfloat16' });
    assert.equal(bf.dtype, 'bfloat16');
    assert.equal(bf.to('float32').sub(full.to('bfloat16').to('float32')).abs().max().item(), 0);
  });
});

test('UNet.computeDtype sets every ResBlock and AttentionBlock', () => {
  const model = new UNet({ imageSize: 8, inChannels: 1, modelChannels: 32, numResBlocks: 1, channelMult: [1, 2], attentionResolutions: [2] });
  const blocks = model.modules().filter((m): m is ResBlock | AttentionBlock => m instanceof ResBlock || m instanceof AttentionBlock);
  assert.ok(blocks.some((m) => m instanceof AttentionBlock) && blocks.some((m) => m instanceof ResBlock));
  model.computeDtype = 'bfloat16';
  assert.ok(blocks.every((m) => m.computeDtype === 'bfloat16'));
  model.computeDtype = 'float32';
  assert.ok(blocks.every((m) => m.computeDtype === 'float32'));
});

// A whole model in bfloat16 (weights too) runs with the default computeDtype: the fused ops keep x's dtype.
test('a bfloat16 UNet runs forward + backward through the fused norms', { skip: NO_BF16_CONV }, () => {
  torch.manualSeed(5);
  const model = new UNet({ imageSize: 8, inChannels: 1, modelChannels: 32, numResBlocks: 1, channelMult: [1, 2], attentionResolutions: [2], dropout: 0.1, useScaleShiftNorm: true });
  torch.noGrad(() => {
    for (const p of model.parameters()) p.normal_(0, 0.2); // the zero-initialised convs would block gradients
  });
  model.to('bfloat16');
  torch.tidy(() => {
    const out: Tensor = model.forward(torch.randn([2, 1, 8, 8]).to('bfloat16'), torch.tensor([3, 700]));
    assert.equal(out.dtype, 'bfloat16');
    out.float().square().mean().backward();
    const block = model.modules().find((m): m is ResBlock => m instanceof ResBlock)!;
    for (const [k, p] of block.namedParameters()) assert.ok(p.grad !== null && p.grad.dtype === 'bfloat16', k);
    const [norm] = block.inLayers.layers as [nn.GroupNorm];
    assert.ok(norm.weight!.grad!.abs().max().item() > 0);
  });
});
