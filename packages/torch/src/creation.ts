// Factory functions: tensors from data, constants, ranges and random draws.
import { call } from './dispatch.js';
import { checkDevice, checkDType, DTYPE_CODE, type AnyTypedArray, type Device, type DType } from './dtype.js';
import { native } from './native.js';
import type { Generator } from './random.js';
import { Tensor, type NestedArray } from './tensor.js';

export interface TensorOptions {
  dtype?: DType;
  device?: Device;
  requiresGrad?: boolean;
}
export interface RandomOptions extends TensorOptions {
  generator?: Generator;
}

function finish(t: Tensor, options: TensorOptions): Tensor {
  if (options.requiresGrad) t.requiresGrad_(true);
  return t;
}

function named(options: TensorOptions): Record<string, unknown> {
  return { dtype: options.dtype ?? 'float32', device: options.device ?? 'cpu' };
}

function typedDType(a: AnyTypedArray): DType {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Float64Array) return 'float64';
  if (a instanceof BigInt64Array) return 'int64';
  if (a instanceof Int32Array) return 'int32';
  if (a instanceof Int16Array) return 'int16';
  if (a instanceof Int8Array) return 'int8';
  return 'uint8';
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 20 ? v.slice(0, 20) + '...' : v)}`;
  return typeof v === 'object' ? (v.constructor?.name ?? 'an object') : typeof v;
}

function flatten(data: NestedArray, shape: number[], out: (number | boolean)[], depth: number): void {
  if (!Array.isArray(data)) {
    if (typeof data !== 'number' && typeof data !== 'boolean') {
      throw new TypeError(`tensor(): expected numbers, booleans, nested arrays of them or a typed array, got ${describe(data)}`);
    }
    if (depth !== shape.length) throw new TypeError('tensor(): ragged nested array');
    out.push(data);
    return;
  }
  if (depth === shape.length) shape.push(data.length);
  else if (shape[depth] !== data.length) throw new TypeError('tensor(): ragged nested array');
  for (const d of data) flatten(d, shape, out, depth + 1);
}

function typedFor(values: (number | boolean)[], dtype: DType): AnyTypedArray {
  switch (dtype) {
    case 'float64': return Float64Array.from(values as number[], Number);
    case 'int64': return BigInt64Array.from(values, (v) => BigInt(Math.trunc(Number(v))));
    case 'int32': return Int32Array.from(values, Number);
    case 'int16': return Int16Array.from(values, Number);
    case 'int8': return Int8Array.from(values, Number);
    case 'uint8':
    case 'bool': return Uint8Array.from(values, (v) => Number(v));
    default: return Float32Array.from(values, Number);
  }
}

/**
 * A tensor from data. Typed arrays keep their dtype (Float32Array -> float32, BigInt64Array ->
 * int64, ...); plain numbers default to float32 (JavaScript has no separate integer type) and
 * booleans to bool. `shape` reshapes flat data.
 */
export function tensor(
  data: NestedArray | AnyTypedArray,
  options: TensorOptions & { shape?: number[] } = {},
): Tensor {
  let shape: number[];
  let typed: AnyTypedArray;
  let dtype: DType;
  if (ArrayBuffer.isView(data)) {
    const arr = data as AnyTypedArray;
    dtype = options.dtype !== undefined ? checkDType(options.dtype) : typedDType(arr);
    shape = options.shape ?? [arr.length];
    const natural = typedDType(arr);
    typed = natural === dtype || (dtype === 'bool' && natural === 'uint8') ? arr : typedFor(Array.from(arr as ArrayLike<number>, Number), dtype);
  } else {
    const values: (number | boolean)[] = [];
    shape = [];
    flatten(data, shape, values, 0);
    const allBool = values.length > 0 && values.every((v) => typeof v === 'boolean');
    dtype = options.dtype !== undefined ? checkDType(options.dtype) : allBool ? 'bool' : 'float32';
    if (options.shape !== undefined) shape = options.shape;
    typed = typedFor(values, dtype);
  }
  // Half types go in as float32 and are converted by libtorch.
  const storeAs: DType = dtype === 'float16' || dtype === 'bfloat16' ? 'float32' : dtype;
  if (storeAs !== dtype) typed = typedFor(Array.from(typed as ArrayLike<number>, Number), 'float32');
  const device = options.device === undefined ? 'cpu' : checkDevice(options.device);
  const t = new Tensor(native.fromBuffer(typed, shape, DTYPE_CODE[storeAs], device));
  if (storeAs !== dtype) {
    const c = t.to(dtype);
    t.dispose();
    return finish(c, options);
  }
  return finish(t, options);
}

/** A 0-d tensor holding one number. */
export function scalarTensor(value: number, options: TensorOptions = {}): Tensor {
  return finish(call('aten::scalar_tensor', [value], named(options)), options);
}

export function zeros(shape: number[], options: TensorOptions = {}): Tensor {
  return finish(call('aten::zeros', [shape], named(options)), options);
}
export function ones(shape: number[], options: TensorOptions = {}): Tensor {
  return finish(call('aten::ones', [shape], named(options)), options);
}
export function empty(shape: number[], options: TensorOptions = {}): Tensor {
  return finish(call('aten::empty.memory_format', [shape], named(options)), options);
}
export function full(shape: number[], value: number, options: TensorOptions = {}): Tensor {
  return finish(call('aten::full', [shape, value], named(options)), options);
}
export function eye(n: number, options: TensorOptions = {}): Tensor {
  return finish(call('aten::eye', [n], named(options)), options);
}
/** Values start, start+step, ... below end (float32 unless dtype says otherwise). */
export function arange(start: number, end?: number, step = 1, options: TensorOptions = {}): Tensor {
  const [s, e] = end === undefined ? [0, start] : [start, end];
  return finish(call('aten::arange.start_step', [s, e, step], named(options)), options);
}
export function linspace(start: number, end: number, steps: number, options: TensorOptions = {}): Tensor {
  return finish(call('aten::linspace', [start, end, steps], named(options)), options);
}

function randomNamed(options: RandomOptions): Record<string, unknown> {
  return { ...named(options), generator: options.generator };
}
/** Standard normal draws. */
export function randn(shape: number[], options: RandomOptions = {}): Tensor {
  return finish(call('aten::randn.generator', [shape], randomNamed(options)), options);
}
/** Uniform draws on [0, 1). */
export function rand(shape: number[], options: RandomOptions = {}): Tensor {
  return finish(call('aten::rand.generator', [shape], randomNamed(options)), options);
}
/** Integers uniform on [low, high), int64 unless dtype says otherwise. */
export function randint(low: number, high: number, shape: number[], options: RandomOptions = {}): Tensor {
  return call('aten::randint.low_generator', [low, high, shape], { ...randomNamed(options), dtype: options.dtype ?? 'int64' });
}
/** A random permutation of 0..n-1 (int64). */
export function randperm(n: number, options: RandomOptions = {}): Tensor {
  return call('aten::randperm.generator', [n], { ...randomNamed(options), dtype: options.dtype ?? 'int64' });
}

function likeNamed(t: Tensor, options: TensorOptions): Record<string, unknown> {
  return { dtype: options.dtype ?? t.dtype, device: options.device ?? t.device };
}
export function zerosLike(t: Tensor, options: TensorOptions = {}): Tensor {
  return finish(call('aten::zeros_like', [t], likeNamed(t, options)), options);
}
export function onesLike(t: Tensor, options: TensorOptions = {}): Tensor {
  return finish(call('aten::ones_like', [t], likeNamed(t, options)), options);
}
export function fullLike(t: Tensor, value: number, options: TensorOptions = {}): Tensor {
  return finish(call('aten::full_like', [t, value], likeNamed(t, options)), options);
}
export function emptyLike(t: Tensor, options: TensorOptions = {}): Tensor {
  return finish(call('aten::empty_like', [t], likeNamed(t, options)), options);
}
export function randnLike(t: Tensor, options: RandomOptions = {}): Tensor {
  return randn(t.shape, { dtype: t.dtype, device: t.device, ...options });
}
export function randLike(t: Tensor, options: RandomOptions = {}): Tensor {
  return rand(t.shape, { dtype: t.dtype, device: t.device, ...options });
}
export function randintLike(t: Tensor, low: number, high: number, options: RandomOptions = {}): Tensor {
  return randint(low, high, t.shape, { dtype: t.dtype, device: t.device, ...options });
}
