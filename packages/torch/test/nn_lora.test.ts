// LoRA adapters: against PyTorch 1.13 (golden/lora_gen.py) for Linear, Conv1d and Conv2d forward,
// backward and merge; and the properties that hold by construction: a fresh adapter (B = 0)
// changes no output bit, only adapter parameters get gradients, remove() restores the layer.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { noGrad } from '../src/autograd.js';
import { randn } from '../src/creation.js';
import { tidy } from '../src/memory.js';
import * as nn from '../src/nn/index.js';
import { manualSeed } from '../src/random.js';
import type { Tensor } from '../src/tensor.js';
import { assertClose, decode, type Encoded } from './golden/nn_golden.js';

interface AdapterGolden {
  rank: number;
  alpha: number;
  scale: number;
  A: Encoded;
  B: Encoded;
  gradA: Encoded;
  gradB: Encoded;
}
interface LoraCase {
  base: Record<string, Encoded>;
  adapters: AdapterGolden[];
  input: Encoded;
  output: Encoded;
  gradOutput: Encoded;
  gradInput: Encoded;
  mergedWeight: Encoded;
  mergedOutput: Encoded;
}

// dist/test/ -> package root -> test/golden/
const golden = JSON.parse(readFileSync(new URL('../../test/golden/lora.json', import.meta.url), 'utf8')) as { torch: string; cases: Record<string, LoraCase> };

// The same layers as lora_gen.py builds; the weights come from the goldens.
const layers: Record<string, () => nn.LoraTarget> = {
  linear: () => new nn.Linear(6, 5),
  linear_two_adapters: () => new nn.Linear(6, 5),
  conv1d_qkv: () => new nn.Conv1d(4, 12, 1),
  conv1d_k3: () => new nn.Conv1d(4, 6, 3, { stride: 2, padding: 1 }),
  conv2d: () => new nn.Conv2d(3, 4, 3, { stride: 2, padding: 1 }),
  conv2d_dilated: () => new nn.Conv2d(3, 4, [3, 2], { stride: [1, 2], padding: [2, 1], dilation: 2 }),
};

test('goldens cover every case built here', () => {
  assert.deepEqual(Object.keys(golden.cases).sort(), Object.keys(layers).sort());
});

for (const [name, g] of Object.entries(golden.cases)) {
  test(`${name}: LoRA forward, gradients and merge match PyTorch`, () => {
    tidy(() => {
      const layer = layers[name]!();
      const model = new nn.Sequential(layer); // the layer at path '0'
      layer.loadStateDict(new Map(Object.entries(g.base).map(([k, v]) => [k, decode(v)])));
      const adapters = g.adapters.map((a, i) => {
        // Later adapters must not freeze the earlier ones: they all train here.
        const lora = nn.injectLora(model, { targets: ['0'], rank: a.rank, alpha: a.alpha, scale: a.scale, name: `a${i}`, freezeBase: i === 0 });
        lora.loadStateDict({ '0.lora_A.weight': decode(a.A), '0.lora_B.weight': decode(a.B) });
        return lora;
      });
      const x = decode(g.input).requiresGrad_(true);
      const y = layer.forward(x);
      assertClose(y, g.output, `${name}: output`);
      y.mul(decode(g.gradOutput)).sum().backward();
      assertClose(x.grad!, g.gradInput, `${name}: grad of the input`);
      adapters.forEach((lora, i) => {
        const [[, a], [, b]] = lora.namedParameters() as [[string, Tensor], [string, Tensor]];
        assertClose(a.grad!, g.adapters[i]!.gradA, `${name}: grad of A${i}`);
        assertClose(b.grad!, g.adapters[i]!.gradB, `${name}: grad of B${i}`);
      });
      assert.equal(layer.weight.grad, null, 'the frozen base weight gets no gradient');
      assert.equal(layer.bias!.grad, null, 'the frozen base bias gets no gradient');

      const before = layer.weight.clone();
      for (const lora of adapters) lora.merge();
      assertClose(layer.weight, g.mergedWeight, `${name}: merged weight`);
      noGrad(() => {
        const merged = layer.forward(decode(g.input));
        assertClose(merged, g.mergedOutput, `${name}: merged output`);
        // Merged and unmerged differ by float rounding only (a sum in a different order).
        assertClose(merged, y.detach(), `${name}: merged vs unmerged`, 1e-4, 1e-5);
      });
      for (const lora of adapters) lora.unmerge();
      // W + cΔW − cΔW: rounding of the add and the subtract, relative to |W| + |cΔW|.
      assertClose(layer.weight, before, `${name}: unmerged weight`, 1e-6, 1e-6);
    });
  });
}

/** A model with every kind of target, under paths like the UNet's. */
function smallModel(): nn.Sequential {
  return new nn.Sequential(new nn.Conv2d(2, 4, 3, { padding: 1 }), new nn.SiLU(), new nn.Conv2d(4, 4, 1), new nn.Flatten(), new nn.Linear(4 * 5 * 5, 3));
}

test('a fresh adapter (B = 0) leaves the output bit-identical, and only the adapter trains', () => {
  tidy(() => {
    manualSeed(1);
    const model = smallModel();
    const x = randn([2, 2, 5, 5]);
    const ref = noGrad(() => model.forward(x)).toArray();
    const baseParams = model.parameters();
    const lora = nn.injectLora(model, { targets: ['0', '2', '4'], rank: 2, alpha: 4 });
    assert.deepEqual(lora.paths, ['0', '2', '4']);
    const out = model.forward(x);
    // Same process, same ops, plus exact zeros: equal by construction.
    assert.ok(out.toArray().every((v, i) => v === ref[i]), 'output changed bits');
    assert.ok(baseParams.every((p) => !p.requiresGrad), 'base parameters are frozen');
    assert.ok(lora.parameters().every((p) => p.requiresGrad), 'adapter parameters train');
    out.square().sum().backward();
    assert.ok(baseParams.every((p) => p.grad === null), 'the base gets no gradient');
    for (const [n, p] of lora.namedParameters()) {
      assert.ok(p.grad !== null, `${n} has a gradient`);
      // B's gradient is (∂L/∂h)(A x)ᵀ ≠ 0; A's is Bᵀ(…) = 0 while B = 0 (Hu et al.'s design).
      if (n.includes('lora_B')) assert.ok(p.grad.abs().sum().item() > 0, `${n} gradient is non-zero`);
    }
    const names = [...model.stateDict().keys()];
    assert.ok(names.includes('0.weight') && names.includes('0.lora_A.default.weight') && names.includes('4.lora_B.default.weight'), names.join(','));
    assert.deepEqual([...lora.stateDict().keys()], ['0.lora_A.weight', '0.lora_B.weight', '2.lora_A.weight', '2.lora_B.weight', '4.lora_A.weight', '4.lora_B.weight']);
  });
});

test('scales, several adapters, and remove() restores the layer', () => {
  tidy(() => {
    manualSeed(2);
    const model = smallModel();
    const x = randn([2, 2, 5, 5]);
    const ref = noGrad(() => model.forward(x));
    const a = nn.injectLora(model, { targets: ['*'], rank: 2, name: 'a' });
    const b = nn.injectLora(model, { targets: ['4'], rank: 1, name: 'b', freezeBase: false });
    assert.deepEqual([...nn.loraAdapters(model).keys()], ['a', 'b']);
    noGrad(() => {
      for (const p of [...a.parameters(), ...b.parameters()]) p.normal_(0, 0.2);
      const both = model.forward(x);
      assert.ok(both.sub(ref).abs().max().item() > 1e-3, 'trained-looking adapters change the output');
      a.setScale(0);
      b.setScale(0);
      assert.ok(model.forward(x).equal(ref), 'scale 0 turns the adapters off');
      a.setScale(1);
      b.setScale(1);
      a.merge();
      assertClose(model.forward(x), both, 'one merged, one not', 1e-4, 1e-5);
      a.setScale(0.5); // re-merged at the new scale
      a.unmerge();
      a.setScale(0.5);
      const half = model.forward(x);
      a.merge();
      assertClose(model.forward(x), half, 'merged at scale 0.5', 1e-4, 1e-5);
      a.remove();
      b.remove();
      assertClose(model.forward(x), ref, 'removed', 1e-5, 1e-6);
    });
    assert.deepEqual([...model.stateDict().keys()], ['0.weight', '0.bias', '2.weight', '2.bias', '4.weight', '4.bias']);
    assert.equal(Object.prototype.hasOwnProperty.call(model.layers[0], 'forward'), false, 'the layer has its own forward again');
  });
});

test('patterns: suffixes, wildcards, containers and RegExps; bad options are RangeErrors', () => {
  tidy(() => {
    const inner = new nn.Sequential(new nn.Conv1d(4, 12, 1), new nn.Conv1d(4, 4, 1));
    const model = new nn.Sequential(new nn.Linear(4, 4), inner, new nn.Conv2d(4, 4, 3, { groups: 2 }));
    const paths = (targets: (string | RegExp)[]): string[] => nn.loraTargets(model, targets).map(([p]) => p);
    assert.deepEqual(paths(['1']), ['1.0', '1.1'], 'a container selects the layers below it');
    assert.deepEqual(paths(['1.*']), ['1.0', '1.1']);
    assert.deepEqual(paths([/1\.\d/]), ['1.0', '1.1']);
    assert.deepEqual(paths(['0']), ['0', '1.0'], "a string matches whole dotted suffixes ('1.0' ends in '.0')");
    assert.deepEqual(paths([/0/, '1.1']), ['0', '1.1'], 'a RegExp matches the whole path');
    assert.throws(() => nn.injectLora(model, { targets: ['nothing'], rank: 2 }), /matches no Linear/);
    assert.throws(() => nn.injectLora(model, { targets: ['0'], rank: 0 }), RangeError);
    assert.throws(() => nn.injectLora(model, { targets: ['0'], rank: 1.5 }), RangeError);
    assert.throws(() => nn.injectLora(model, { targets: ['0'], rank: 2, alpha: -1 }), RangeError);
    assert.throws(() => nn.injectLora(model, { targets: ['0'], rank: 2, dropout: 1 }), RangeError);
    assert.throws(() => nn.injectLora(model, { targets: ['0', '2'], rank: 2 }), /groups 2/);
    assert.ok(model.parameters().every((p) => p.requiresGrad), 'a refused injection changes nothing');
    const lora = nn.injectLora(model, { targets: [/0/], rank: 2, dropout: 0.1 });
    assert.throws(() => nn.injectLora(model, { targets: [/0/], rank: 2 }), /already has a LoRA adapter named 'default'/);
    assert.deepEqual(paths([/0/]), ['0'], "the adapter's own layers are never targets");
    assert.throws(() => lora.loadStateDict({ '0.lora_A.weight': randn([3, 4]), '0.lora_B.weight': randn([4, 2]) }), /shape \[3, 4\]/);
    assert.throws(() => lora.loadStateDict({ '0.lora_A.weight': randn([2, 4]) }), /missing 0.lora_B.weight/);
  });
});

test("dropout acts on the adapter's input in training mode only; mergeAndUnload bakes the update in", () => {
  tidy(() => {
    manualSeed(3);
    const model = smallModel();
    const x = randn([2, 2, 5, 5]);
    const lora = nn.injectLora(model, { targets: ['4'], rank: 2, dropout: 0.5 });
    noGrad(() => {
      for (const p of lora.parameters()) p.normal_(0, 0.3);
      model.eval();
      const a = model.forward(x);
      assert.ok(model.forward(x).equal(a), 'eval: deterministic');
      model.train();
      const b = model.forward(x);
      assert.ok(!b.equal(a), 'train: the adapter input is dropped out');
      model.eval();
      lora.mergeAndUnload();
      assertClose(model.forward(x), a, 'merged and unloaded', 1e-4, 1e-5);
    });
    assert.deepEqual([...model.stateDict().keys()], ['0.weight', '0.bias', '2.weight', '2.bias', '4.weight', '4.bias']);
    assert.throws(() => lora.merge(), /was removed/);
  });
});
