// Data types: creation and data() round trips for every supported dtype, and to(dtype)
// conversions, against the values PyTorch 1.13 gives (golden/ops.json, section "dtypes").
import assert from 'node:assert/strict';
import { test } from 'node:test';

import * as torch from '../src/index.js';
import { decode, goldens } from './golden.js';

const { roundtrip, convert } = goldens().dtypes;

const ARRAY_KIND: Record<string, string> = {
  float32: 'Float32Array',
  float64: 'Float64Array',
  float16: 'Float32Array', // widened
  bfloat16: 'Float32Array', // widened
  int64: 'BigInt64Array',
  int32: 'Int32Array',
  uint8: 'Uint8Array',
  bool: 'Uint8Array',
};

for (const [name, { input, expected }] of Object.entries(roundtrip)) {
  test(`round trip ${name}: tensor(values) -> data() gives PyTorch's stored values`, () => {
    const dtype = name as torch.DType;
    using t = torch.tensor(input, { dtype });
    assert.equal(t.dtype, dtype);
    assert.deepEqual(t.shape, [input.length]);
    const data = t.data();
    assert.equal(data.constructor.name, ARRAY_KIND[name]);
    assert.deepEqual(t.toArray(), expected.map(decode));
  });
}

for (const c of convert) {
  test(`to(): ${c.from} -> ${c.to}`, () => {
    torch.tidy(() => {
      const src = torch.tensor(c.input, { dtype: c.from });
      const dst = src.to(c.to);
      assert.equal(dst.dtype, c.to);
      assert.deepEqual(dst.toArray(), c.expected.map(decode));
      assert.equal(src.dtype, c.from, 'to() leaves the source alone');
    });
  });
}

test('typed arrays keep their dtype; plain numbers default to float32, booleans to bool', () => {
  torch.tidy(() => {
    assert.equal(torch.tensor(new Float64Array([1, 2])).dtype, 'float64');
    assert.equal(torch.tensor(new Int32Array([1, 2])).dtype, 'int32');
    assert.equal(torch.tensor(new BigInt64Array([1n, 2n])).dtype, 'int64');
    assert.equal(torch.tensor(new Uint8Array([1, 2])).dtype, 'uint8');
    assert.equal(torch.tensor(new Int8Array([-1, 2])).dtype, 'int8');
    assert.equal(torch.tensor(new Int16Array([-1, 2])).dtype, 'int16');
    assert.equal(torch.tensor([[1, 2], [3, 4]]).dtype, 'float32');
    assert.equal(torch.tensor([true, false]).dtype, 'bool');
    const big = torch.tensor(new BigInt64Array([2n ** 62n, -(2n ** 62n)]));
    assert.deepEqual(Array.from(big.data() as BigInt64Array), [2n ** 62n, -(2n ** 62n)], 'int64 beyond 2^53 survives');
  });
});

test('nested arrays keep their shape; toNested inverts tensor()', () => {
  torch.tidy(() => {
    const nested = [[[1, 2, 3]], [[4, 5, 6]]];
    const t = torch.tensor(nested);
    assert.deepEqual(t.shape, [2, 1, 3]);
    assert.deepEqual(t.toNested(), nested);
    assert.deepEqual(torch.tensor([true, false]).toNested(), [true, false]);
    assert.equal(torch.tensor(new Float32Array([7]), { shape: [] }).toNested(), 7);
    assert.deepEqual(torch.tensor(new Float32Array(6).fill(1), { shape: [2, 3] }).shape, [2, 3]);
  });
});

test('factories: closed-form values and requested dtypes', () => {
  torch.tidy(() => {
    assert.deepEqual(torch.arange(5).toArray(), [0, 1, 2, 3, 4]);
    assert.deepEqual(torch.arange(1, 2, 0.25).toArray(), [1, 1.25, 1.5, 1.75]);
    assert.equal(torch.arange(3, undefined, 1, { dtype: 'int64' }).dtype, 'int64');
    assert.deepEqual(torch.linspace(0, 1, 5).toArray(), [0, 0.25, 0.5, 0.75, 1]);
    assert.deepEqual(torch.full([2, 2], 7, { dtype: 'int32' }).toArray(), [7, 7, 7, 7]);
    assert.deepEqual(torch.eye(2).toArray(), [1, 0, 0, 1]);
    assert.deepEqual(torch.zeros([2, 3], { dtype: 'float64' }).toArray(), [0, 0, 0, 0, 0, 0]);
    assert.deepEqual(torch.ones([3], { dtype: 'bfloat16' }).toArray(), [1, 1, 1]);
    const like = torch.onesLike(torch.zeros([2], { dtype: 'float16' }));
    assert.equal(like.dtype, 'float16');
    assert.equal(torch.scalarTensor(2.5).item(), 2.5);
    assert.equal(torch.empty([0, 3]).numel(), 0);
    assert.deepEqual(torch.zeros([0]).toArray(), []);
  });
});

test('arithmetic promotes dtypes as PyTorch does', () => {
  torch.tidy(() => {
    const i = torch.tensor([1, 2], { dtype: 'int64' });
    assert.equal(i.add(1).dtype, 'int64', 'int tensor + int scalar stays int');
    assert.equal(i.add(0.5).dtype, 'float32', 'int tensor + float scalar is the default float');
    assert.equal(i.div(2).dtype, 'float32', 'true division of ints is float');
    assert.equal(torch.tensor([1], { dtype: 'float16' }).add(torch.tensor([1])).dtype, 'float32');
    assert.equal(torch.tensor([1], { dtype: 'float64' }).mul(torch.tensor([1])).dtype, 'float64');
    assert.equal(torch.tensor([1, 2]).gt(1).dtype, 'bool');
  });
});
