// The FID InceptionV3 against a PyTorch mirror of pytorch-fid's network
// (golden/eval_inception_gen.py): the same state-dict names, shapes and parameter count, and with
// the mirror's seeded random weights the same pool3 features and logits.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';
import { InceptionV3 } from '../src/eval/index.js';
import { assertSameDraw, drawSumSlack } from './draws.js';

// One intra-op thread: on a busy 2-core machine a second thread mostly waits for a core (measured
// 2–8× slower); the results do not depend on it beyond float rounding.
torch.setNumThreads(1);

const GOLDEN = new URL('../../test/golden/', import.meta.url);

interface Golden {
  seed: number;
  inputSeed: number;
  inputShape: number[];
  keys: string[];
  shapes: Record<string, number[]>;
  checksums: Record<string, [number, number]>;
  inputSum: number;
  numParameters: number;
  float32Noise: { features: number; logits: number };
  scale: { features: number; logits: number };
}
const golden = JSON.parse(readFileSync(new URL('eval_inception.json', GOLDEN), 'utf8')) as Golden;

/** The mirror's test weight for one state-dict entry (see eval_inception_gen.py's test_weight). */
function testWeight(key: string, shape: number[], g: torch.Generator): Tensor {
  const r = torch.randn(shape, { generator: g });
  if (key.endsWith('bn.weight')) return r.mul(0.1).add(1);
  if (key.endsWith('bn.bias') || key.endsWith('running_mean')) return r.mul(0.1);
  if (key.endsWith('running_var')) return r.abs().mul(0.1).add(1);
  if (key === 'fc.weight') return r.mul(Math.sqrt(1 / 2048));
  if (key === 'fc.bias') return r.mul(0.1);
  return r.mul(Math.sqrt(2 / (shape[1]! * shape[2]! * shape[3]!)));
}

test("InceptionV3 has pytorch-fid's state-dict names, shapes and parameter count", () => {
  const net = new InceptionV3();
  try {
    const state = net.stateDict();
    assert.deepEqual([...state.keys()], golden.keys);
    for (const [k, t] of state) assert.deepEqual(t.shape, golden.shapes[k], k);
    assert.equal(net.numParameters(), golden.numParameters);
  } finally {
    torch.dispose([...net.parameters(), ...net.buffers()]);
  }
});

test("InceptionV3 with the mirror's weights gives PyTorch's pool3 features (2, 2048) and logits (2, 1008)", () => {
  const net = new InceptionV3();
  const g = new torch.Generator({ seed: golden.seed });
  const weights = new Map<string, Tensor>();
  try {
    torch.tidy(() => {
      for (const k of golden.keys) {
        const w = testWeight(k, golden.shapes[k]!, g).keep();
        const [sum, first] = golden.checksums[k]!;
        // The same libtorch generator gives the same draws; check before trusting them.
        // (std 1 bounds every key's scale; see testWeight)
        const slack = drawSumSlack(w.numel(), 1);
        assert.ok(Math.abs(w.to('float64').sum().item() - sum) <= 1e-6 * Math.max(1, Math.abs(sum)) + 1e-3 + slack, `regenerated ${k} differs from the mirror's`);
        assertSameDraw(w.flatten().select(0, 0).item(), Math.fround(first), 1, `regenerated ${k} differs from the mirror's`);
        weights.set(k, w);
      }
    });
    net.loadStateDict(weights);
    net.eval();
    torch.tidy(() => {
      const x = torch.rand(golden.inputShape, { generator: new torch.Generator({ seed: golden.inputSeed }) }).mul(2).sub(1); // (2, 3, 40, 40)
      assert.ok(Math.abs(x.to('float64').sum().item() - golden.inputSum) < 1e-6);
      const out = torch.noGrad(() => net.forward(x));
      assert.deepEqual(out.features.shape, [2, 2048]);
      assert.deepEqual(out.logits!.shape, [2, 1008]);
      const { tensors } = torch.loadSafetensors(new URL('eval_inception.safetensors', GOLDEN).pathname);
      for (const name of ['features', 'logits'] as const) {
        const ours = name === 'features' ? out.features : out.logits!;
        const err = ours.sub(tensors[name]!).abs().max().item();
        // float32: a relative 1e-5 of the output's size, plus a few times the rounding noise the
        // mirror measured (its float32 vs float64 difference), of which each side carries one draw.
        const tol = 1e-5 * golden.scale[name] + 5 * golden.float32Noise[name];
        assert.ok(err <= tol, `${name}: max |ours − PyTorch| = ${err} > ${tol}`);
      }
    });
  } finally {
    torch.dispose([...weights.values(), ...net.parameters(), ...net.buffers()]);
  }
});
