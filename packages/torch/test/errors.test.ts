// 1,000 deliberately bad calls, cycled over many kinds of mistake, all in this process: each must
// throw an Error with a non-empty one-line message (TypeError for wrong JS types, RangeError for
// out-of-range indices and dims), leak nothing, and leave the engine working.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import * as torch from '../src/index.js';
import type { Tensor } from '../src/index.js';

type ErrorClass = typeof Error | typeof TypeError | typeof RangeError;

interface BadCall {
  kind: string;
  /** The class the error must be an instance of (Error accepts any). */
  expect: ErrorClass;
  /** Makes the bad call; i varies the bad value across repetitions. */
  run: (i: number) => unknown;
}

/** Values that are not tensors, for arguments that want one. */
const NOT_TENSORS: unknown[] = ['a', {}, undefined, [1, 2], Symbol('s'), () => 0, new Float32Array(2)];
/** Values that are not integers, for arguments that want one. */
const NOT_INTS: unknown[] = [NaN, 1.5, Infinity, -Infinity, 'x', {}, [[1]]];
const BAD_DEVICES = ['gpu', 'cuda:abc', 'tpu', 'CPU', '', 'cuda:-1x', 'cpu:zero'];

const x = (): Tensor => torch.randn([2, 3]); // (2, 3)
const img = (): Tensor => torch.randn([1, 2, 5, 5]); // (B, C, H, W)
const long = (v: number[]): Tensor => torch.tensor(v, { dtype: 'int64' });
const pick = <T>(list: T[], i: number): T => list[i % list.length]!;
const dead = (): Tensor => {
  const t = torch.ones([2]);
  t.dispose();
  return t;
};
/** Defeats the type checker on purpose: these calls pass what TypeScript would refuse. */
const loose = <T>(v: unknown): T => v as T;

const BAD_CALLS: BadCall[] = [
  // wrong JS types
  { kind: 'non-tensor operand', expect: TypeError, run: (i) => x().add(loose(pick(NOT_TENSORS, i))) },
  { kind: 'non-tensor in cat', expect: TypeError, run: (i) => torch.cat([x(), loose(pick(NOT_TENSORS, i))]) },
  { kind: 'cat of a non-array', expect: TypeError, run: (i) => torch.cat(loose(pick(['x', 5, {}], i))) },
  { kind: 'non-tensor conv weight', expect: TypeError, run: (i) => torch.conv2d(img(), loose(pick([null, 'w', {}], i))) },
  { kind: 'non-integer dim', expect: TypeError, run: (i) => x().sum(loose(pick(NOT_INTS, i))) },
  { kind: 'non-integer index', expect: TypeError, run: (i) => x().select(0, loose(pick(NOT_INTS, i))) },
  { kind: 'non-integer shape entry', expect: TypeError, run: (i) => torch.zeros([2, loose(pick(NOT_INTS, i))]) },
  { kind: 'non-array shape', expect: TypeError, run: (i) => x().reshape(loose(pick(['6', 6, {}, null], i))) },
  { kind: 'non-numeric scalar', expect: TypeError, run: (i) => x().clamp(loose(pick(['a', {}, [1]], i))) },
  { kind: 'non-numeric tensor data', expect: TypeError, run: (i) => torch.tensor(loose(pick(['abc', {}, [1, 'a'], undefined, [[1], [2, 3]]], i))) },
  { kind: 'unknown dtype', expect: TypeError, run: (i) => torch.zeros([2], { dtype: loose(pick(['float8', 'Float', 'f16', {}], i)) }) },
  { kind: 'unknown dtype in tensor()', expect: TypeError, run: (i) => torch.tensor([1], { dtype: loose(pick(['f32', 'complex999'], i)) }) },
  { kind: 'non-string equation', expect: TypeError, run: (i) => torch.einsum(loose(pick([5, null, {}], i)), [x()]) },
  { kind: 'unknown operator', expect: TypeError, run: (i) => torch.callByName(`aten::no_such_op_${i % 3}`, [x()]) },
  { kind: 'unknown overload', expect: TypeError, run: () => torch.call('aten::add.NoSuchOverload', [x(), x()]) },
  { kind: 'too many arguments', expect: TypeError, run: (i) => torch.call('aten::relu', [x(), ...Array(1 + (i % 3)).fill(1)]) },
  { kind: 'unknown named argument', expect: TypeError, run: () => torch.call('aten::sum.dim_IntList', [x(), [0]], { keepDim: true }) },
  { kind: 'no overload fits', expect: TypeError, run: (i) => torch.callByName('aten::add', loose(pick([[], ['a', 'b']], i))) },
  { kind: 'async tidy', expect: TypeError, run: () => torch.tidy(loose(async () => 1)) },
  // bad devices
  { kind: 'bad device (factory)', expect: TypeError, run: (i) => torch.zeros([2], { device: loose(pick(BAD_DEVICES, i)) }) },
  { kind: 'bad device (tensor())', expect: TypeError, run: (i) => torch.tensor([1, 2], { device: loose(pick(BAD_DEVICES, i)) }) },
  { kind: 'bad device (to)', expect: TypeError, run: (i) => x().to(loose(pick(BAD_DEVICES.filter((d) => d !== ''), i))) },
  // bad generators
  { kind: 'non-generator', expect: TypeError, run: (i) => torch.randn([2], { generator: loose(pick([{}, { handle: 5 }, 'g', x()], i)) }) },
  { kind: 'generator device', expect: TypeError, run: (i) => new torch.Generator({ device: loose(pick(['xyz', 'gpu'], i)) }) },
  { kind: 'non-numeric seed', expect: TypeError, run: (i) => new torch.Generator({ seed: loose(pick(['1', {}], i)) }) },
  { kind: 'negative or fractional seed', expect: RangeError, run: (i) => torch.manualSeed(pick([-1, 1.5, NaN, -Infinity], i)) },
  { kind: 'state of another dtype', expect: TypeError, run: () => new torch.Generator({ seed: 1 }).setState(torch.zeros([5056])) },
  { kind: 'state of a wrong size', expect: Error, run: (i) => new torch.Generator().setState(torch.zeros([3 + i % 5], { dtype: 'uint8' })) },
  // out-of-range indices and dims
  { kind: 'dim out of range', expect: RangeError, run: (i) => x().sum(2 + (i % 5)) },
  { kind: 'negative dim out of range', expect: RangeError, run: (i) => x().transpose(0, -3 - (i % 4)) },
  { kind: 'squeeze/flip dim out of range', expect: RangeError, run: (i) => (i % 2 ? x().squeeze(5) : x().flip([4])) },
  { kind: 'select index out of range', expect: RangeError, run: (i) => x().select(1, (i % 2 ? 1 : -1) * (3 + (i % 4)) - (i % 2 ? 0 : 1)) },
  { kind: 'size(dim) out of range', expect: RangeError, run: (i) => x().size(2 + (i % 3)) },
  { kind: 'indexSelect out of range', expect: RangeError, run: (i) => x().indexSelect(0, long([0, 2 + (i % 9)])) },
  { kind: 'advanced index out of range', expect: RangeError, run: (i) => x().index([long([-3 - (i % 3)])]) },
  { kind: 'embedding index out of range', expect: RangeError, run: (i) => torch.embedding(long([2 + (i % 4)]), x()) },
  { kind: 'class target out of range', expect: RangeError, run: (i) => torch.crossEntropy(x(), long([3 + (i % 2), 0])) },
  { kind: 'gather index out of range', expect: Error, run: (i) => x().gather(1, long([3 + (i % 3), 0]).reshape([1, 2])) },
  { kind: 'thread count out of range', expect: RangeError, run: (i) => torch.setNumThreads(pick([0, -2, 2 ** 31 - 1, 1e6, NaN, 1.5], i)) },
  { kind: 'dropout probability', expect: RangeError, run: (i) => torch.dropout(x(), pick([-0.1, 1.5, 2], i)) },
  { kind: 'odd padding', expect: RangeError, run: (i) => torch.pad(img(), [1, 2, 3].slice(0, 1 + 2 * (i % 2))) },
  // shape mismatches
  { kind: 'broadcast mismatch', expect: Error, run: (i) => x().add(torch.randn([4 + (i % 3), 5])) },
  { kind: 'matmul mismatch', expect: Error, run: (i) => x().matmul(torch.randn([4 + (i % 3), 2])) },
  { kind: 'cat mismatch', expect: Error, run: () => torch.cat([x(), torch.randn([2, 4])]) },
  { kind: 'stack mismatch', expect: Error, run: () => torch.stack([x(), torch.randn([3, 2])]) },
  { kind: 'view mismatch', expect: Error, run: (i) => x().view([4 + (i % 3), 2]) },
  { kind: 'expand mismatch', expect: Error, run: () => x().expand([3, 3]) },
  { kind: 'conv channel mismatch', expect: Error, run: (i) => torch.conv2d(img(), torch.randn([3, 3 + (i % 2), 3, 3])) },
  { kind: 'conv kernel larger than input', expect: Error, run: () => torch.conv2d(img(), torch.randn([3, 2, 9, 9])) },
  { kind: 'linear mismatch', expect: Error, run: () => torch.linear(x(), torch.randn([4, 5])) },
  { kind: 'groups do not divide channels', expect: Error, run: (i) => torch.groupNorm(torch.randn([1, 6, 2, 2]), 4 + (i % 2)) },
  { kind: 'layerNorm shape mismatch', expect: Error, run: () => torch.layerNorm(x(), [4]) },
  { kind: 'loss shape mismatch', expect: Error, run: () => torch.mseLoss(x(), torch.randn([4, 5])) },
  { kind: 'einsum operand count', expect: Error, run: () => torch.einsum('ij,jk->ik', [x()]) },
  // wrong dtypes
  { kind: 'mixed float dtypes in matmul', expect: Error, run: () => x().matmul(torch.randn([3, 2], { dtype: 'float64' })) },
  { kind: 'float index', expect: Error, run: (i) => (i % 2 ? x().indexSelect(0, torch.tensor([0])) : x().gather(1, torch.tensor([[0]]))) },
  { kind: 'float embedding indices', expect: Error, run: () => torch.embedding(torch.tensor([1]), x()) },
  { kind: 'float class targets', expect: Error, run: () => torch.crossEntropy(x(), torch.tensor([1, 0])) },
  { kind: 'float oneHot input', expect: Error, run: () => torch.oneHot(torch.tensor([1, 0])) },
  { kind: 'randn of integers', expect: Error, run: () => torch.randn([2], { dtype: 'int64' }) },
  { kind: 'non-bool where condition', expect: Error, run: () => torch.where(x(), x(), x()) },
  { kind: 'integer requiresGrad', expect: Error, run: () => long([1]).requiresGrad_() },
  { kind: 'integer multinomial', expect: Error, run: () => torch.multinomial(long([1, 1]), 1) },
  // negative or invalid sizes
  { kind: 'negative size', expect: Error, run: (i) => torch.zeros([2, -1 - (i % 3)]) },
  { kind: 'negative random size', expect: Error, run: (i) => torch.randn([-1 - (i % 3)]) },
  { kind: 'negative typed-array shape', expect: RangeError, run: () => torch.tensor(new Float32Array(4), { shape: [-2, -2] }) },
  { kind: 'data does not fill shape', expect: RangeError, run: (i) => torch.tensor(new Float32Array(4), { shape: [3 + (i % 2) * 2] }) },
  { kind: 'negative narrow length', expect: Error, run: (i) => x().narrow(1, 0, -1 - (i % 2)) },
  { kind: 'negative repeat', expect: Error, run: () => x().repeat([-1, 1]) },
  { kind: 'invalid reshape', expect: Error, run: () => x().reshape([-2, 3]) },
  { kind: 'zero step or chunks', expect: Error, run: (i) => (i % 2 ? torch.arange(0, 10, 0) : x().chunk(0)) },
  { kind: 'negative steps', expect: Error, run: () => torch.linspace(0, 1, -2) },
  { kind: 'empty randint range', expect: Error, run: () => torch.randint(5, 2, [3]) },
  { kind: 'impossible allocation', expect: Error, run: (i) => torch.zeros(i % 2 ? [2 ** 40, 2 ** 40] : [2 ** 50]) },
  { kind: 'interpolate without a size', expect: TypeError, run: () => torch.interpolate(img(), {}) },
  { kind: 'zero interpolate size', expect: Error, run: () => torch.interpolate(img(), { size: [0, 2], mode: 'bilinear' }) },
  { kind: 'pooling window too large', expect: Error, run: () => torch.maxPool2d(img(), 9) },
  // disposed tensors
  { kind: 'method on a disposed tensor', expect: Error, run: () => dead().add(1) },
  { kind: 'disposed operand', expect: Error, run: () => x().mul(dead()) },
  { kind: 'disposed tensor in a list', expect: Error, run: () => torch.cat([x(), dead()]) },
  { kind: 'data of a disposed tensor', expect: Error, run: (i) => (i % 2 ? dead().toArray() : dead().shape) },
  { kind: 'disposed generator state', expect: Error, run: () => new torch.Generator().setState(dead()) },
  // autograd and values
  { kind: 'backward of a non-scalar', expect: Error, run: () => x().requiresGrad_().mul(2).backward() },
  { kind: 'backward without a graph', expect: Error, run: () => torch.ones([1]).backward() },
  { kind: 'grad of an unused input', expect: Error, run: () => torch.autograd.grad(x().requiresGrad_().sum(), [torch.ones([1]).requiresGrad_()]) },
  { kind: 'in-place on a leaf that requires grad', expect: Error, run: () => x().requiresGrad_().add_(1) },
  { kind: 'grad of another shape', expect: Error, run: () => { x().requiresGrad_().grad = torch.ones([3]); } },
  { kind: 'item of many values', expect: Error, run: (i) => (i % 2 ? x().item() : torch.zeros([0]).item()) },
  { kind: 'checkpoint function throws', expect: Error, run: () => torch.checkpoint(() => { throw new Error('inside the block'); }, x()) },
  { kind: 'multinomial of invalid weights', expect: Error, run: (i) => torch.multinomial(torch.tensor(i % 2 ? [-1, 1] : [0, 0]), 1) },
];

/** Checks one thrown value: the right class, a non-empty message on one line. */
function check(e: unknown, call: BadCall): true {
  assert.ok(e instanceof Error, `${call.kind}: threw a non-Error ${String(e)}`);
  assert.ok(e instanceof call.expect, `${call.kind}: expected ${call.expect.name}, got ${e.constructor.name}: ${e.message}`);
  assert.ok(e.message.length > 0, `${call.kind}: empty message`);
  assert.ok(!e.message.includes('\n'), `${call.kind}: multi-line message ${JSON.stringify(e.message.slice(0, 200))}`);
  return true;
}

test('1,000 bad calls: each throws a one-line Error of the fitting class; nothing leaks', () => {
  const threads = torch.getNumThreads();
  torch.setNumThreads(1); // tiny ops: spare the loop waiting for a second core on a loaded machine
  const before = torch.memory();
  const seen = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const call = BAD_CALLS[i % BAD_CALLS.length]!;
    seen.add(call.kind);
    torch.tidy(() => {
      assert.throws(() => call.run(Math.floor(i / BAD_CALLS.length)), (e: unknown) => check(e, call), `${call.kind} did not throw`);
    });
  }
  assert.equal(seen.size, BAD_CALLS.length, 'every kind ran');
  assert.ok(BAD_CALLS.length >= 80);
  assert.deepEqual(torch.memory(), before, 'failed calls leave no live tensors behind');
  assert.equal(torch.getNumThreads(), 1, 'refused settings changed nothing');
  torch.setNumThreads(threads);
  assert.equal(torch.isGradEnabled(), true);
});

test('the engine works normally after the bad calls', () => {
  torch.tidy(() => {
    const a = torch.tensor([[1, 2], [3, 4]]).requiresGrad_();
    const y = a.matmul(a).sum();
    y.backward();
    assert.equal(y.item(), 54);
    assert.deepEqual(a.grad!.toArray(), [7, 11, 9, 13]);
  });
});
