// The gated PixelCNN's masked convolutions keep it autoregressive: the logits at position i
// (raster order) have a zero gradient with respect to every input at positions ≥ i, and a
// non-zero one for some input before i (no blind spot to the left or above), unconditional and
// class-conditional; sampling fills every position with valid codes; training lowers the loss.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as torch from '@diffuse/torch';
import { GatedPixelCNN } from '../src/index.js';

const H = 5;
const W = 5;

for (const numClasses of [0, 3]) {
  test(`masked convolutions: output at i never depends on inputs ≥ i (${numClasses ? 'class-conditional' : 'unconditional'})`, () => {
    torch.manualSeed(1);
    const net = new GatedPixelCNN({ numEmbeddings: 6, channels: 16, numLayers: 4, kernelSize: 3, numClasses });
    for (let i = 0; i < H; i++) {
      for (let j = 0; j < W; j++) {
        torch.tidy(() => {
          const x = torch.randn([4, 16, H, W]).requiresGrad_(true);
          const y = numClasses > 0 ? torch.tensor(BigInt64Array.from([0n, 2n, 1n, 0n])) : undefined;
          net.forwardEmbedded(x, y).select(3, j).select(2, i).sum().backward();
          const g = x.grad!.abs().sum([0, 1]).toArray(); // (H·W,) gradient mass per input position
          const at = i * W + j;
          for (let p = at; p < H * W; p++) assert.equal(g[p], 0, `output (${i}, ${j}) depends on input ${Math.floor(p / W)}, ${p % W}`);
          // No blind spot: the neighbours left, above and above-right reach the output (ReLUs
          // could zero a path by chance; 16 channels × 4 images make that vanishingly unlikely).
          if (j > 0) assert.ok(g[at - 1]! > 0, `output (${i}, ${j}) is blind to its left neighbour`);
          if (i > 0) assert.ok(g[at - W]! > 0, `output (${i}, ${j}) is blind to the pixel above`);
          if (i > 0 && j < W - 1) assert.ok(g[at - W + 1]! > 0, `output (${i}, ${j}) is blind above-right`);
        });
      }
    }
  });
}

test('training lowers the loss on a fixed pattern; samples are valid codes and learn the pattern', () => {
  torch.manualSeed(2);
  const K = 4;
  const net = new GatedPixelCNN({ numEmbeddings: K, channels: 16, numLayers: 3, kernelSize: 3, numClasses: 0 });
  // Stripes: column j holds code j mod K, one deterministic pattern.
  const pattern = torch.tensor(BigInt64Array.from({ length: 8 * H * W }, (_, p) => BigInt((p % W) % K)), { shape: [8, H, W] }).keep();
  const opt = new torch.optim.AdamW(net.parameters(), { lr: 1e-2 });
  const first = torch.tidy(() => net.loss(pattern).item());
  let last = first;
  for (let s = 0; s < 60; s++) {
    last = torch.tidy(() => {
      net.zeroGrad();
      const l = net.loss(pattern);
      l.backward();
      opt.step();
      return l.item();
    });
  }
  assert.ok(last < first / 5, `loss ${first} → ${last}`);
  const s = net.sample([4, H, W], { generator: new torch.Generator({ seed: 0 }) });
  const v = Array.from(s.data() as BigInt64Array, Number);
  assert.ok(v.every((k) => k >= 0 && k < K));
  const match = v.filter((k, p) => k === (p % W) % K).length / v.length;
  assert.ok(match > 0.9, `samples follow the pattern in ${match}`);
  opt.dispose();
});
