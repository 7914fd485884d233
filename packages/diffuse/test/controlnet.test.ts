// ControlNet (Zhang et al. 2023) on the UNet: the encoder copy starts as the base's, a fresh
// ControlNet (zero joins) leaves the base output bit-identical, the first gradients reach the zero
// convs, and the conditioning scale and control-image shape behave.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import * as torch from '@diffuse/torch';

import { controlledModelFn } from '../src/adapters/controlnet.js';
import type { ModelFn } from '../src/diffusion/enums.js';
import { classifierFreeGuidance } from '../src/guidance/classifier-free.js';
import { ControlNet } from '../src/models/controlnet.js';
import { UNet } from '../src/models/unet.js';

function base(): UNet {
  torch.manualSeed(0);
  const unet = torch.tidy(() => new UNet({ imageSize: 8, inChannels: 1, modelChannels: 8, outChannels: 1, numResBlocks: 1, channelMult: [1, 2], attentionResolutions: [2], numHeads: 2, dropout: 0, numClasses: 3 }));
  // Random weights everywhere (the zero-initialised output convs would hide bugs).
  torch.noGrad(() => unet.parameters().forEach((p) => p.normal_(0, 0.2)));
  for (const p of unet.parameters()) p.requiresGrad_(false);
  return unet.eval();
}

function batch(): { x: torch.Tensor; t: torch.Tensor; y: torch.Tensor; hint: torch.Tensor } {
  const g = new torch.Generator({ seed: 1 });
  return {
    x: torch.randn([2, 1, 8, 8], { generator: g }),
    t: torch.tensor([5, 700], { dtype: 'int64' }),
    y: torch.tensor([0, 2], { dtype: 'int64' }),
    hint: torch.rand([2, 1, 8, 8], { generator: g }).mul(2).sub(1),
  };
}

test('a fresh ControlNet copies the encoder and leaves the base output bit-identical', () => {
  torch.tidy(() => {
    const unet = base();
    const cn = new ControlNet(unet, { controlChannels: 1 });
    const baseState = unet.stateDict();
    for (const [k, v] of cn.stateDict()) {
      if (baseState.has(k)) assert.ok(v.equal(baseState.get(k)!), `${k} is not the base's`);
      else assert.match(k, /^(input_hint_block|zero_convs|middle_block_out)\./);
    }
    assert.equal(cn.zeroConvs.length, unet.inputBlocks.length);
    const { x, t, y, hint } = batch();
    const ref = unet.forward(x, t, { y }).toArray();
    const control = cn.forward(x, t, hint, { y });
    const out = unet.forward(x, t, { y, control });
    // The joins add exact zeros: equal by construction.
    assert.ok(out.toArray().every((v, i) => v === ref[i]), 'the output changed');
    // The first gradients reach only the zero convs (everything before them is multiplied by 0).
    out.square().mean().backward();
    assert.ok(unet.parameters().every((p) => p.grad === null), 'the base is frozen');
    const zeroGrad = cn.zeroConvs.at(0).weight.grad;
    assert.ok(zeroGrad !== null && zeroGrad.abs().sum().item() > 0, 'zero conv weights get a gradient');
    const encGrad = cn.inputBlocks.at(1).parameters()[0]!.grad;
    assert.ok(encGrad === null || encGrad.abs().sum().item() === 0, 'the encoder copy gets none yet');
  });
});

test('the conditioning scale: 0 is the base, and the control changes the output when joined', () => {
  torch.tidy(() => {
    const unet = base();
    const cn = new ControlNet(unet, { controlChannels: 1 });
    torch.noGrad(() => {
      for (const p of [...cn.zeroConvs.parameters(), ...cn.middleBlockOut.parameters(), ...cn.inputHintBlock.parameters()]) p.normal_(0, 0.1);
      const { x, t, y, hint } = batch();
      const ref = unet.forward(x, t, { y });
      const off = unet.forward(x, t, { y, control: cn.forward(x, t, hint, { y, scale: 0 }) });
      assert.ok(off.equal(ref), 'scale 0 adds exact zeros');
      const on = unet.forward(x, t, { y, control: cn.forward(x, t, hint, { y }) });
      const other = unet.forward(x, t, { y, control: cn.forward(x, t, hint.neg(), { y }) });
      assert.ok(on.sub(ref).abs().max().item() > 1e-3, 'the control moves the output');
      assert.ok(on.sub(other).abs().max().item() > 1e-4, 'another control image, another output');
      assert.throws(() => cn.forward(x, t, torch.zeros([2, 3, 8, 8]), { y }), /control image must be \(2, 1, 8, 8\)/);
      assert.throws(() => cn.forward(x, t, torch.zeros([2, 1, 4, 4]), { y }), /got \[2, 1, 4, 4\]/);
    });
  });
});

test('in bfloat16 mixed precision too, a fresh ControlNet leaves the output bit-identical (where oneDNN has bf16)', (t) => {
  if (!torch.cpuInfo().bf16Kernels) {
    t.skip('no bfloat16 convolutions on this CPU');
    return;
  }
  torch.tidy(() => {
    const unet = base();
    const cn = new ControlNet(unet, { controlChannels: 1 });
    unet.computeDtype = 'bfloat16';
    torch.nn.setComputeDtype(cn, 'bfloat16');
    torch.noGrad(() => {
      const { x, t: steps, y, hint } = batch();
      const ref = unet.forward(x, steps, { y }).toArray();
      const out = unet.forward(x, steps, { y, control: cn.forward(x, steps, hint, { y }) }).toArray();
      assert.ok(out.every((v, i) => v === ref[i]), 'the output changed');
    });
  });
});

test('with classifier-free guidance: the control map is doubled with the batch, and a fresh ControlNet changes nothing', () => {
  torch.tidy(() => {
    const unet = base();
    const cn = new ControlNet(unet, { controlChannels: 1 });
    torch.noGrad(() => {
      const { x, t, y, hint } = batch();
      const guided = (m: ModelFn): torch.Tensor => classifierFreeGuidance(m, { scale: 3, nullClass: 3 })(x, t, { y, control: hint });
      const ref = guided((xi, ti, kw) => unet.forward(xi, ti, { y: kw.y }));
      const out = guided(controlledModelFn(unet, cn));
      assert.deepEqual(out.shape, [2, 1, 8, 8]);
      assert.ok(out.equal(ref), 'zero joins under guidance');
    });
  });
});
