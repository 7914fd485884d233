// VQGAN's adversarial loss against a PyTorch mirror (test/golden/adversarial_gen.py): the patch
// discriminator's logits and input gradient with fixed weights, the hinge and vanilla losses, the
// generator loss, and the adaptive weight on a tiny decoder; then its size rule and initialisation.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import * as torch from '@diffuse/torch';
import { nn, type Tensor } from '@diffuse/torch';
import { PatchDiscriminator, patchMapSize, validatePatchDiscriminator } from '../src/models/patch-discriminator.js';
import { adaptiveWeight, discriminatorLoss, generatorLoss } from '../src/train/adversarial.js';

interface Weights { [key: string]: { shape: number[]; data: number[] } }
const golden = JSON.parse(readFileSync(new URL('../../test/golden/adversarial_golden.json', import.meta.url), 'utf8')) as {
  disc: { options: { inChannels: number; channels: number; numLayers: number }; weights: Weights; x: number[]; logits: number[]; logitsShape: number[]; r: number[]; xGrad: number[] };
  losses: { real: number[]; fake: number[]; hinge: number; vanilla: number; g: number };
  adaptive: { decoder: Weights; z: number[]; target: number[]; rec: number; g: number; lambda: number; discWeight: number };
};

const t = (data: number[], shape: number[]): Tensor => torch.tensor(Float32Array.from(data), { shape });
const arr = (x: Tensor): number[] => Array.from(x.detach().contiguous().data() as Float32Array);
/** Largest |a − b| relative to the largest |b|. */
function relErr(a: number[], b: number[]): number {
  assert.equal(a.length, b.length);
  const scale = Math.max(...b.map(Math.abs), 1e-12);
  return Math.max(...a.map((v, i) => Math.abs(v - b[i]!))) / scale;
}
function load(m: nn.Module, w: Weights): void {
  m.loadStateDict(Object.fromEntries(Object.entries(w).map(([k, v]) => [k, t(v.data, v.shape)])), false);
}
function goldenDisc(): PatchDiscriminator {
  const d = new PatchDiscriminator(golden.disc.options);
  const keys = [...d.stateDict().keys()].filter((k) => !k.endsWith('num_batches_tracked'));
  assert.deepEqual(keys.sort(), Object.keys(golden.disc.weights).sort(), 'state-dict keys as the mirror');
  load(d, golden.disc.weights);
  return d;
}

test('patch discriminator: logits and input gradient equal the PyTorch mirror (train-mode BatchNorm)', () => {
  torch.tidy(() => {
    const g = golden.disc;
    const d = goldenDisc();
    const x = t(g.x, [2, 1, 16, 16]).requiresGrad_(true);
    const logits = d.forward(x); // (2, 1, 2, 2)
    assert.deepEqual(logits.shape, g.logitsShape);
    assert.ok(relErr(arr(logits), g.logits) < 1e-5, 'logits');
    logits.mul(t(g.r, g.logitsShape)).sum().backward();
    assert.ok(relErr(arr(x.grad!), g.xGrad) < 1e-5, 'input gradient');
  });
});

test('hinge and vanilla discriminator losses and the generator loss equal taming', () => {
  torch.tidy(() => {
    const g = golden.losses;
    const real = t(g.real, [2, 1, 3, 3]);
    const fake = t(g.fake, [2, 1, 3, 3]);
    assert.ok(Math.abs(discriminatorLoss(real, fake, 'hinge').item() - g.hinge) < 1e-6 * Math.abs(g.hinge));
    assert.ok(Math.abs(discriminatorLoss(real, fake, 'vanilla').item() - g.vanilla) < 1e-6 * Math.abs(g.vanilla));
    assert.ok(Math.abs(generatorLoss(fake).item() - g.g) < 1e-6 * Math.abs(g.g) + 1e-7);
  });
});

test("adaptive weight λ on a tiny decoder equals taming's calculate_adaptive_weight (1e-5 relative)", () => {
  torch.tidy(() => {
    const g = golden.adaptive;
    const d = goldenDisc();
    const dec = new nn.Sequential(new nn.Conv2d(2, 4, 3, { padding: 1 }), new nn.SiLU(), new nn.Conv2d(4, 1, 3, { padding: 1 }));
    load(dec, g.decoder);
    const xrec = dec.forward(t(g.z, [2, 2, 16, 16])); // (2, 1, 16, 16)
    const rec = t(g.target, [2, 1, 16, 16]).sub(xrec).abs().mean();
    const gLoss = generatorLoss(d.forward(xrec));
    assert.ok(Math.abs(rec.item() - g.rec) < 1e-6 * g.rec);
    assert.ok(Math.abs(gLoss.item() - g.g) < 1e-5 * Math.abs(g.g));
    const lastLayer = (dec.layers[2] as nn.Conv2d).weight;
    const lambda = adaptiveWeight(rec, gLoss, lastLayer, g.discWeight);
    assert.ok(Math.abs(lambda - g.lambda) < 1e-5 * g.lambda, `λ ${lambda} vs PyTorch ${g.lambda}`);
    // The graph is kept: the total loss still backpropagates.
    rec.add(gLoss.mul(lambda)).backward();
    assert.ok(lastLayer.grad !== null);
  });
});

test('logit map sizes: 28×28 gives 5×5 with 2 layers, 1×1 with 3; too many layers is one line', () => {
  assert.equal(patchMapSize(28, 2), 5);
  assert.equal(patchMapSize(28, 3), 1);
  assert.equal(patchMapSize(32, 3), 2);
  for (const [size, layers] of [[28, 2], [28, 3], [32, 3], [16, 2]] as const) {
    torch.tidy(() => {
      const d = new PatchDiscriminator({ inChannels: 1, channels: 4, numLayers: layers });
      assert.deepEqual(d.forward(torch.randn([2, 1, size, size])).shape, [2, 1, patchMapSize(size, layers), patchMapSize(size, layers)]);
    });
  }
  assert.throws(() => validatePatchDiscriminator(28, 4), /^RangeError: a 4-layer patch discriminator leaves no logits for 28×28 images; use --disc-layers 3 or fewer$/);
});

test("initialisation as taming's weights_init: conv weights N(0, 0.02), BatchNorm scales N(1, 0.02)", () => {
  torch.tidy(() => {
    const d = new PatchDiscriminator({ inChannels: 1, channels: 32, numLayers: 2, generator: new torch.Generator({ seed: 1 }) });
    const sd = d.stateDict();
    const w = sd.get('main.2.conv.weight')!; // (128, 64, 4, 4): 131,072 draws
    assert.ok(Math.abs(w.mean().item()) < 1e-3);
    assert.ok(Math.abs(w.std().item() - 0.02) < 5e-4);
    const s = sd.get('main.2.norm.weight')!; // (128,)
    assert.ok(Math.abs(s.mean().item() - 1) < 0.01 && s.std().item() < 0.03 && s.std().item() > 0.01);
    assert.equal(sd.get('main.2.norm.bias')!.abs().max().item(), 0);
  });
});
