// LoRA on the UNet: target groups, a fresh adapter leaves the model's output bit-identical, only
// the adapter gets gradients (and the trainer leaves the base untouched), merged = unmerged
// within float tolerance, and adapter files round-trip with their base hash.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import * as torch from '@diffuse/torch';
import { nn } from '@diffuse/torch';

import { applyLoras } from '../src/adapters/apply.js';
import { loraPreparer } from '../src/adapters/finetune.js';
import { requireUNet } from '../src/train/factory.js';
import { baseModelHash, readLoraFile, saveLoraFile } from '../src/adapters/lora-file.js';
import { exactPaths, resolveLoraTargets } from '../src/adapters/targets.js';
import { U8ArrayDataset } from '../src/data/array-dataset.js';
import { BatchLoader } from '../src/data/loader.js';
import { loadCheckpoint, resolveCheckpointDir } from '../src/train/checkpoint.js';
import { resolveConfig, type TrainConfig } from '../src/train/config.js';
import { createUNet } from '../src/train/factory.js';
import { train } from '../src/train/trainer.js';

function tinyConfig(steps = 3): TrainConfig {
  return resolveConfig(undefined, {
    model: { imageSize: 8, channels: 1, modelChannels: 8, numResBlocks: 1, channelMult: [1, 2], attentionDs: [2], numHeads: 2, dropout: 0 },
    diffusion: { diffusionSteps: 50, noiseSchedule: 'cosine', meanType: 'epsilon', varType: 'fixed_small', loss: 'mse' },
    optim: { lr: 1e-2, batchSize: 4, emaRates: [0.9] },
    run: { data: 'test', steps, logInterval: 0, saveInterval: 0, seed: 3, precision: 'fp32' },
  });
}

/** A UNet in float32 with its base weights randomised (zero-init output convs would hide bugs). */
function baseModel(): ReturnType<typeof createUNet> {
  torch.manualSeed(0);
  const model = torch.tidy(() => createUNet(tinyConfig()));
  torch.noGrad(() => {
    for (const p of model.parameters()) p.normal_(0, 0.2);
  });
  return model.eval();
}

function inputs(): { x: torch.Tensor; t: torch.Tensor } {
  const g = new torch.Generator({ seed: 1 });
  return { x: torch.randn([2, 1, 8, 8], { generator: g }), t: torch.tensor([3, 40], { dtype: 'int64' }) };
}

test('target groups resolve to the UNet layers they name', () => {
  torch.tidy(() => {
    const model = baseModel();
    const attn = resolveLoraTargets(model, ['attn']).paths;
    assert.ok(attn.length >= 2 && attn.every((p) => /\.(qkv|proj_out)$/.test(p)), attn.join(' '));
    const res = resolveLoraTargets(model, ['res']).paths;
    assert.ok(res.every((p) => /\.(in_layers\.2|out_layers\.3|skip_connection)$/.test(p)), res.join(' '));
    assert.ok(res.some((p) => p.endsWith('skip_connection')), 'a channel-changing res block has a conv skip');
    const emb = resolveLoraTargets(model, ['emb']).paths;
    assert.ok(emb.every((p) => p.endsWith('emb_layers.1')));
    const both = resolveLoraTargets(model, ['attn', 'res']);
    assert.equal(both.paths.length, attn.length + res.length);
    assert.deepEqual(both.empty, []);
    assert.deepEqual(resolveLoraTargets(model, ['qkv']).paths, attn.filter((p) => p.endsWith('qkv')), 'patterns work too');
    // (A UNet always has attention in its middle block; a model without any shows the empty group.)
    const noAttn = new nn.Sequential(new nn.Linear(2, 2));
    assert.deepEqual(resolveLoraTargets(noAttn, ['attn', 'all']).empty, ['attn']);
    assert.throws(() => resolveLoraTargets(noAttn, ['attn']), /select no layer/);
  });
});

test('a fresh LoRA leaves the UNet output bit-identical; only the adapter gets gradients', () => {
  torch.tidy(() => {
    const model = baseModel();
    const { x, t } = inputs();
    const ref = torch.noGrad(() => model.forward(x, t)).toArray();
    const base = model.namedParameters();
    const before = base.map(([, p]) => p.clone());
    const { paths } = resolveLoraTargets(model, ['attn', 'res', 'emb']);
    const lora = nn.injectLora(model, { targets: exactPaths(paths), rank: 2 });
    assert.deepEqual(lora.paths, paths);
    const out = model.forward(x, t);
    // Same process, same ops, plus B·A·x = exact zeros: equal by construction.
    assert.ok(out.toArray().every((v, i) => v === ref[i]), 'the output changed');
    out.square().mean().backward();
    assert.ok(base.every(([, p]) => p.grad === null && !p.requiresGrad), 'the base gets no gradient');
    for (const [n, p] of lora.namedParameters()) {
      assert.ok(p.grad !== null, `${n}: no gradient`);
      if (n.includes('lora_B')) assert.ok(p.grad.abs().sum().item() > 0, `${n}: zero gradient`);
    }
    assert.ok(base.every(([, p], i) => p.equal(before[i]!)));
  });
});

test('merge equals the unmerged forward within float tolerance; unmerge restores the base', () => {
  torch.tidy(() => {
    const model = baseModel();
    const { x, t } = inputs();
    const lora = nn.injectLora(model, { targets: exactPaths(resolveLoraTargets(model, ['attn', 'res']).paths), rank: 3, alpha: 6 });
    torch.noGrad(() => {
      const w0 = model.stateDict().get('input_blocks.1.0.in_layers.2.weight')!.clone();
      for (const p of lora.parameters()) p.normal_(0, 0.1);
      const unmerged = model.forward(x, t);
      lora.merge();
      const merged = model.forward(x, t);
      // Σ_k W x + c B (A x) vs Σ_k (W + c B A) x: the same sum in another order, in float32
      // through a whole UNet (outputs of order 1).
      const diff = merged.sub(unmerged).abs().max().item();
      assert.ok(diff < 1e-3, `merged vs unmerged: ${diff}`);
      assert.ok(unmerged.sub(torch.noGrad(() => { lora.unmerge(); return model.forward(x, t); })).abs().max().item() < 1e-4);
      const w1 = model.stateDict().get('input_blocks.1.0.in_layers.2.weight')!;
      assert.ok(w1.sub(w0).abs().max().item() < 1e-6, 'unmerge restores W up to rounding');
    });
  });
});

test('an adapter file round-trips and is refused on another base', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'diffuse-lora-'));
  try {
    torch.tidy(() => {
      const model = baseModel();
      const hash = baseModelHash(model);
      const { paths } = resolveLoraTargets(model, ['attn']);
      const lora = nn.injectLora(model, { targets: exactPaths(paths), rank: 2 });
      torch.noGrad(() => lora.parameters().forEach((p) => p.normal_(0, 0.1)));
      assert.equal(baseModelHash(model), hash, 'the hash ignores adapters');
      const file = path.join(dir, 'lora.safetensors');
      saveLoraFile(file, Object.fromEntries(lora.stateDict()), { rank: 2, alpha: 2, dropout: 0, targets: ['attn'], paths, baseHash: hash, base: 'test', step: 5, emaRate: null });
      const { x, t } = inputs();
      const expected = torch.noGrad(() => model.forward(x, t));
      lora.remove();
      const read = readLoraFile(dir);
      assert.deepEqual(read.meta.paths, paths);
      torch.dispose(read.tensors);
      const [applied] = applyLoras(model, [{ path: file, scale: 1 }]);
      assert.ok(torch.noGrad(() => model.forward(x, t)).equal(expected), 'the same adapter gives the same output');
      applied!.lora.remove();
      const other = baseModel();
      torch.noGrad(() => other.parameters()[0]!.add_(1));
      assert.throws(() => applyLoras(other, [{ path: file, scale: 1 }]), /fine-tuned from another base model/);
      assert.deepEqual([...nn.loraAdapters(other).keys()], [], 'a refused LoRA leaves nothing behind');
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the trainer with prepareModel trains and saves only the adapter; the base is untouched', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'diffuse-lora-train-'));
  try {
    const base = baseModel();
    const weights = base.stateDict();
    const cfg = tinyConfig(3);
    const { paths } = resolveLoraTargets(base, ['attn', 'res']);
    cfg.lora = { base: 'test', baseHash: baseModelHash(base), baseEma: null, rank: 2, alpha: 2, dropout: 0, targets: ['attn', 'res'], paths };
    const n = 8;
    const images = Uint8Array.from({ length: n * 64 }, (_, i) => (i * 37) % 256);
    const loader = new BatchLoader(new U8ArrayDataset({ images, n, height: 8, width: 8, channels: 1 }), { batchSize: 4, seed: 0 });
    let seen: [string, torch.Tensor][] = [];
    try {
      await train({
        config: cfg,
        checkpointRoot: dir,
        data: loader,
        prepareModel: (m) => {
          loraPreparer(weights, cfg.lora!)(requireUNet(m, 'LoRA'));
          seen = m.namedParameters().filter(([k]) => !k.includes('.lora_')).map(([k, p]) => [k, p.clone()]);
        },
      });
    } finally {
      await loader.close();
    }
    const ck = loadCheckpoint(resolveCheckpointDir(dir));
    const keys = Object.keys(ck.model);
    assert.equal(keys.length, 2 * paths.length);
    assert.ok(keys.every((k) => /\.lora_[AB]\.default\.weight$/.test(k)), keys.join(' '));
    assert.deepEqual(Object.keys(ck.ema.get(0.9)!).sort(), keys.sort());
    const someB = keys.find((k) => k.includes('lora_B'))!;
    assert.ok(ck.model[someB]!.abs().sum().item() > 0, 'B moved away from zero');
    // The frozen base as prepared equals the base checkpoint's weights.
    for (const [k, p] of seen) assert.ok(p.equal(weights.get(k)!), `${k} changed`);
    torch.dispose(ck.model);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('in bfloat16 mixed precision too, a fresh LoRA leaves the output bit-identical (where oneDNN has bf16)', (t) => {
  if (!torch.cpuInfo().bf16Kernels) {
    t.skip('no bfloat16 convolutions on this CPU');
    return;
  }
  torch.tidy(() => {
    const model = baseModel();
    model.computeDtype = 'bfloat16';
    const { x, t: steps } = inputs();
    const ref = torch.noGrad(() => model.forward(x, steps)).toArray();
    nn.injectLora(model, { targets: exactPaths(resolveLoraTargets(model, ['attn', 'res', 'emb']).paths), rank: 2 });
    const out = torch.noGrad(() => model.forward(x, steps)).toArray();
    assert.ok(out.every((v, i) => v === ref[i]), 'the output changed');
  });
});
