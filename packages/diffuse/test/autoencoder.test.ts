// The autoencoder against a PyTorch mirror (test/golden/autoencoder_gen.py): with the mirror's
// weights, the same state-dict keys, posterior moments, KL term, decoder output, input gradient
// and parameter gradients; the vector quantizer's codes, straight-through gradient and loss;
// the scale factor. Then invariants that need no mirror (shapes per f, EMA codebook, revival).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';
import { Autoencoder, VectorQuantizer, measureScaleFactor, type AutoencoderConfig } from '../src/index.js';

const golden = JSON.parse(readFileSync(new URL('../../test/golden/autoencoder_golden.json', import.meta.url), 'utf8')) as {
  kl: {
    options: Pick<AutoencoderConfig, 'inChannels' | 'channels' | 'channelMult' | 'numResBlocks' | 'zChannels' | 'attention' | 'imageSize'>;
    seed: number; keys: string[]; shapes: Record<string, number[]>;
    x: number[]; r: number[]; moments: number[]; kl: number[]; xrec: number[]; loss: number; xGrad: number[];
    gradNorms: Record<string, number>; scaleFactor: number;
  };
  vq: { K: number; D: number; beta: number; codebook: number[]; z: number[]; r: number[]; indices: number[]; zq: number[]; vqLoss: number; zGrad: number[]; codebookGrad: number[]; perplexity: number };
};

/** Largest |a − b| relative to the largest |b|. */
function relErr(a: number[], b: number[]): number {
  assert.equal(a.length, b.length);
  const scale = Math.max(...b.map(Math.abs), 1e-12);
  return Math.max(...a.map((v, i) => Math.abs(v - b[i]!))) / scale;
}
const arr = (t: Tensor): number[] => Array.from(t.detach().contiguous().data() as Float32Array);

function config(over: Partial<AutoencoderConfig> = {}): AutoencoderConfig {
  return {
    kind: 'kl', imageSize: 8, inChannels: 1, channels: 8, channelMult: [1, 2], numResBlocks: 1, zChannels: 2, attention: true, dropout: 0,
    recLoss: 'l1', klWeight: 1e-6, codebookSize: 16, commitmentBeta: 0.25, emaDecay: 0, reviveThreshold: 0, scaleFactor: 1, ...over,
  };
}

/** The mirror's weights: randn per parameter in its state-dict order, scaled as autoencoder_gen.py's fill(). */
function mirrorWeights(keys: string[], shapes: Record<string, number[]>, seed: number): Record<string, Tensor> {
  const gen = new torch.Generator({ seed });
  const out: Record<string, Tensor> = {};
  for (const k of keys) {
    const shape = shapes[k]!;
    let w = torch.randn(shape, { generator: gen });
    if (shape.length >= 2) w = w.div(Math.sqrt(shape.slice(1).reduce((a, b) => a * b, 1)));
    else w = w.mul(0.1).add(k.endsWith('.weight') && k.split('.').at(-2)!.includes('norm') ? 1 : 0);
    out[k] = w.keep();
  }
  return out;
}

test('KL autoencoder: keys, moments, KL, decoder output and gradients equal the PyTorch mirror', () => {
  const g = golden.kl;
  const ae = new Autoencoder(config({ ...g.options }));
  const keys = [...ae.stateDict().keys()];
  assert.deepEqual([...keys].sort(), [...g.keys].sort());
  ae.loadStateDict(mirrorWeights(g.keys, g.shapes, g.seed));
  torch.tidy(() => {
    const x = torch.tensor(Float32Array.from(g.x), { shape: [2, 1, 8, 8] }).requiresGrad_(true);
    const r = torch.tensor(Float32Array.from(g.r), { shape: [2, 1, 8, 8] });
    const post = ae.encodeKL(x);
    assert.ok(relErr(arr(torch.cat([post.mean, post.logvar], 1)), g.moments) < 1e-4, 'moments');
    const kl = post.kl();
    assert.ok(relErr(arr(kl), g.kl) < 1e-4, `KL ${arr(kl)} vs ${g.kl}`);
    const xrec = ae.decode(post.mode());
    assert.ok(relErr(arr(xrec), g.xrec) < 1e-4, 'decoder output');
    const loss = xrec.mul(r).sum().add(kl.sum());
    assert.ok(Math.abs(loss.item() - g.loss) < 1e-4 * Math.abs(g.loss));
    loss.backward();
    assert.ok(relErr(arr(x.grad!), g.xGrad) < 1e-3, 'input gradient');
    // Biases just before a one-channel-per-group GroupNorm have a zero gradient in exact
    // arithmetic; both sides hold float32 noise there, hence the absolute term.
    const largest = Math.max(...Object.values(g.gradNorms));
    for (const [name, p] of ae.namedParameters()) {
      const want = g.gradNorms[name]!;
      const got = p.grad!.norm().item();
      assert.ok(Math.abs(got - want) <= 1e-3 * want + 1e-6 * largest, `${name}: gradient norm ${got} vs ${want}`);
    }
    // LDM's scale factor: 1/std of the latents (here the posterior means of the two images).
    assert.ok(Math.abs(measureScaleFactor(post.mean.detach()) - g.scaleFactor) < 1e-4 * g.scaleFactor);
  });
  ae.zeroGrad();
});

test('VQ: nearest codes, straight-through gradient and codebook + β·commitment loss equal the mirror', () => {
  const g = golden.vq;
  const vq = new VectorQuantizer({ numEmbeddings: g.K, embeddingDim: g.D, beta: g.beta });
  torch.noGrad(() => vq.embedding.weight.copy_(torch.tensor(Float32Array.from(g.codebook), { shape: [g.K, g.D] })));
  vq.eval(); // no usage bookkeeping
  torch.tidy(() => {
    const z = torch.tensor(Float32Array.from(g.z), { shape: [2, g.D, 3, 3] }).requiresGrad_(true);
    const r = torch.tensor(Float32Array.from(g.r), { shape: [2, g.D, 3, 3] });
    const q = vq.forward(z);
    assert.deepEqual(Array.from(q.indices.data() as BigInt64Array, Number), g.indices);
    assert.ok(relErr(arr(q.zq), g.zq) < 1e-6, 'quantized values are the codes');
    assert.ok(Math.abs(q.loss.item() - g.vqLoss) < 1e-5 * g.vqLoss);
    assert.ok(Math.abs(q.perplexity - g.perplexity) < 1e-4);
    q.zq.mul(r).sum().add(q.loss).backward();
    assert.ok(relErr(arr(z.grad!), g.zGrad) < 1e-5, 'straight-through gradient to z');
    assert.ok(relErr(arr(vq.embedding.weight.grad!), g.codebookGrad) < 1e-5, 'codebook gradient');
  });
});

test('latent shapes for f = 2, 4, 8 and the image size they need', () => {
  for (const [mult, f] of [[[1, 2], 2], [[1, 2, 2], 4], [[1, 1, 2, 2], 8]] as const) {
    const ae = new Autoencoder(config({ imageSize: 16, channelMult: [...mult], zChannels: 3, attention: false }));
    torch.tidy(() => {
      const z = ae.encode(torch.randn([2, 1, 16, 16]));
      assert.deepEqual(z.shape, [2, 3, 16 / f, 16 / f]);
      assert.deepEqual(ae.latentShape(), [3, 16 / f, 16 / f]);
      assert.deepEqual(ae.decode(z).shape, [2, 1, 16, 16]);
    });
  }
  assert.throws(() => new Autoencoder(config({ imageSize: 28, channelMult: [1, 1, 2, 2] })), /not divisible by the downsampling factor 8/);
});

test('EMA codebook: codes move toward the mean of their encoder outputs, with no gradient; dead codes are revived', () => {
  torch.manualSeed(3);
  const vq = new VectorQuantizer({ numEmbeddings: 4, embeddingDim: 2, beta: 0.25, emaDecay: 0.5, reviveThreshold: 0.5 });
  assert.equal(vq.embedding.weight.requiresGrad, false);
  torch.tidy(() => {
    // All 8 vectors at (3, 3): one code wins them all and, with γ = 0.5, lands on (3, 3) (up to the
    // Laplace smoothing's ε); the three never used start in U(−¼, ¼) and are revived at an encoder
    // output once their use average decays below the threshold.
    const z = torch.full([2, 2, 2, 2], 3);
    const q0 = vq.forward(z);
    assert.equal(q0.used, 1);
    for (let i = 0; i < 80; i++) vq.forward(z);
    const w = arr(vq.embedding.weight);
    const winner = Number(q0.indices.flatten().select(0, 0).item());
    assert.ok(Math.abs(w[2 * winner]! - 3) < 1e-3 && Math.abs(w[2 * winner + 1]! - 3) < 1e-3, `code ${winner}: ${w}`);
    for (let k = 0; k < 4; k++) assert.ok(w[2 * k]! > 2.5, `code ${k} was not revived: ${w}`);
    assert.ok(vq.forward(z).perplexity < 1.01);
  });
});
