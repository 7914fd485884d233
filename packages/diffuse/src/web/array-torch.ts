// An array-backed stand-in for '@diffuse/torch' with the subset of tensor operations the samplers
// use (elementwise arithmetic, split/cat, full), so the web page runs the samplers' own code —
// bundled with esbuild, which maps '@diffuse/torch' here — with the network in ONNX Runtime.
// float32 results are rounded per op (Math.fround) as libtorch's float32 kernels round; a float64
// scalar operand of a float32 op is rounded to float32 first, as libtorch's type promotion does.
// Memory is the garbage collector's: tidy, keep and dispose only keep the API.

export type DType = 'float32' | 'float64' | 'int64' | 'uint8';
export type Device = 'cpu';
type Storage = Float32Array | Float64Array | BigInt64Array | Uint8Array;

function storageFor(dtype: DType, n: number): Storage {
  switch (dtype) {
    case 'float32':
      return new Float32Array(n);
    case 'float64':
      return new Float64Array(n);
    case 'int64':
      return new BigInt64Array(n);
    case 'uint8':
      return new Uint8Array(n);
  }
}

function numelOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** A dense row-major tensor over a typed array. */
export class Tensor {
  readonly device: Device = 'cpu';
  readonly requiresGrad = false;
  constructor(
    private readonly values: Storage,
    readonly shape: number[],
    readonly dtype: DType,
  ) {
    if (values.length !== numelOf(shape)) throw new RangeError(`array-torch: ${values.length} values for shape [${shape.join(', ')}]`);
  }

  get ndim(): number {
    return this.shape.length;
  }
  numel(): number {
    return this.values.length;
  }
  size(dim: number): number {
    const d = dim < 0 ? dim + this.ndim : dim;
    const s = this.shape[d];
    if (s === undefined) throw new RangeError(`array-torch: no dimension ${dim} in [${this.shape.join(', ')}]`);
    return s;
  }
  /** The values (the tensor's own storage). */
  data(): Storage {
    return this.values;
  }
  item(): number {
    if (this.values.length !== 1) throw new RangeError('array-torch: item() of a tensor with more than one value');
    return Number(this.values[0]!);
  }
  dispose(): void {}
  keep(): this {
    return this;
  }
  detach(): Tensor {
    return this;
  }
  clone(): Tensor {
    return new Tensor(this.values.slice(), [...this.shape], this.dtype);
  }
  contiguous(): Tensor {
    return this;
  }
  reshape(shape: number[]): Tensor {
    const known = shape.filter((s) => s !== -1).reduce((a, b) => a * b, 1);
    const full = shape.map((s) => (s === -1 ? this.numel() / known : s));
    return new Tensor(this.values, full, this.dtype);
  }
  to(target: DType | Device): Tensor {
    if (target === 'cpu' || target === this.dtype) return this;
    const out = storageFor(target, this.numel());
    if (out instanceof BigInt64Array) {
      for (let i = 0; i < out.length; i++) out[i] = BigInt(Math.trunc(Number(this.values[i]!)));
    } else {
      for (let i = 0; i < out.length; i++) out[i] = Number(this.values[i]!);
    }
    return new Tensor(out, [...this.shape], target);
  }

  private unary(f: (v: number) => number): Tensor {
    const out = storageFor(this.dtype === 'float64' ? 'float64' : 'float32', this.numel()) as Float32Array | Float64Array;
    for (let i = 0; i < out.length; i++) out[i] = f(Number(this.values[i]!));
    return new Tensor(out, [...this.shape], this.dtype === 'float64' ? 'float64' : 'float32');
  }

  /** An elementwise binary op with libtorch's promotion for the cases the samplers have. */
  private binary(other: Tensor | number, f: (a: number, b: number) => number): Tensor {
    if (typeof other === 'number') {
      const b = this.dtype === 'float64' ? other : Math.fround(other);
      return this.unary((a) => f(a, b));
    }
    // A 0-dim (or one-value) operand does not promote a float32 tensor (libtorch's rule).
    const thisScalar = this.numel() === 1 && other.numel() !== 1;
    const otherScalar = other.numel() === 1 && this.numel() !== 1;
    if (!thisScalar && !otherScalar && this.shape.join() !== other.shape.join()) {
      throw new RangeError(`array-torch: shapes [${this.shape.join(', ')}] and [${other.shape.join(', ')}] (only equal shapes or a scalar)`);
    }
    const dtype: DType = thisScalar ? other.dtype : otherScalar ? this.dtype : this.dtype === 'float64' && other.dtype === 'float64' ? 'float64' : 'float32';
    const round = dtype === 'float64' ? (v: number): number => v : Math.fround;
    const shape = thisScalar ? [...other.shape] : [...this.shape];
    const out = storageFor(dtype, numelOf(shape)) as Float32Array | Float64Array;
    if (thisScalar) {
      const a = round(Number(this.values[0]!));
      for (let i = 0; i < out.length; i++) out[i] = f(a, Number(other.values[i]!));
    } else if (otherScalar) {
      const b = round(Number(other.values[0]!));
      for (let i = 0; i < out.length; i++) out[i] = f(Number(this.values[i]!), b);
    } else {
      for (let i = 0; i < out.length; i++) out[i] = f(Number(this.values[i]!), Number(other.values[i]!));
    }
    return new Tensor(out, shape, dtype);
  }

  add(o: Tensor | number): Tensor {
    return this.binary(o, (a, b) => a + b);
  }
  sub(o: Tensor | number): Tensor {
    return this.binary(o, (a, b) => a - b);
  }
  mul(o: Tensor | number): Tensor {
    return this.binary(o, (a, b) => a * b);
  }
  mul_(o: Tensor | number): Tensor {
    return this.mul(o);
  }
  div(o: Tensor | number): Tensor {
    return this.binary(o, (a, b) => a / b);
  }
  /** o − this. */
  rsub(o: Tensor | number): Tensor {
    return this.binary(o, (a, b) => b - a);
  }
  neg(): Tensor {
    return this.unary((a) => -a);
  }
  sqrt(): Tensor {
    return this.unary(Math.sqrt);
  }
  exp(): Tensor {
    return this.unary(Math.exp);
  }
  clamp(lo: number, hi: number): Tensor {
    return this.unary((a) => Math.min(Math.max(a, lo), hi));
  }

  /** Slices [start, start + length) along dim. */
  narrow(dim: number, start: number, length: number): Tensor {
    const d = dim < 0 ? dim + this.ndim : dim;
    const outer = numelOf(this.shape.slice(0, d));
    const inner = numelOf(this.shape.slice(d + 1));
    const n = this.shape[d]!;
    const shape = [...this.shape];
    shape[d] = length;
    const out = storageFor(this.dtype, numelOf(shape));
    for (let o = 0; o < outer; o++) {
      const src = this.values.subarray((o * n + start) * inner, (o * n + start + length) * inner);
      (out as Float32Array).set(src as Float32Array, o * length * inner);
    }
    return new Tensor(out, shape, this.dtype);
  }
  split(size: number, dim = 0): Tensor[] {
    const n = this.size(dim);
    const parts: Tensor[] = [];
    for (let s = 0; s < n; s += size) parts.push(this.narrow(dim, s, Math.min(size, n - s)));
    return parts;
  }
  chunk(chunks: number, dim = 0): Tensor[] {
    return this.split(Math.ceil(this.size(dim) / chunks), dim);
  }
}

/** Concatenates along dim (equal shapes elsewhere). */
export function cat(tensors: Tensor[], dim = 0): Tensor {
  const first = tensors[0]!;
  const d = dim < 0 ? dim + first.ndim : dim;
  const outer = numelOf(first.shape.slice(0, d));
  const inner = numelOf(first.shape.slice(d + 1));
  const shape = [...first.shape];
  shape[d] = tensors.reduce((s, t) => s + t.shape[d]!, 0);
  const out = storageFor(first.dtype, numelOf(shape));
  let offset = 0;
  for (let o = 0; o < outer; o++) {
    for (const t of tensors) {
      const len = t.shape[d]! * inner;
      (out as Float32Array).set(t.data().subarray(o * len, (o + 1) * len) as Float32Array, offset);
      offset += len;
    }
  }
  return new Tensor(out, shape, first.dtype);
}

export interface TensorOptions {
  dtype?: DType;
  device?: Device;
}

/** A tensor from a typed array (its dtype) and a shape. */
export function tensor(data: Storage, options: TensorOptions & { shape?: number[] } = {}): Tensor {
  const dtype: DType = data instanceof Float64Array ? 'float64' : data instanceof BigInt64Array ? 'int64' : data instanceof Uint8Array ? 'uint8' : 'float32';
  return new Tensor(data, options.shape ?? [data.length], dtype);
}

/** A tensor of one value (float32 by default). */
export function full(shape: number[], value: number, options: TensorOptions = {}): Tensor {
  const dtype = options.dtype ?? 'float32';
  const out = storageFor(dtype, numelOf(shape));
  if (out instanceof BigInt64Array) out.fill(BigInt(value));
  else out.fill(value);
  return new Tensor(out, shape, dtype);
}

/** full() shaped and typed like x. */
export function fullLike(x: Tensor, value: number): Tensor {
  return full([...x.shape], value, { dtype: x.dtype });
}

/** A 0-dim tensor. */
export function scalarTensor(value: number, options: TensorOptions = {}): Tensor {
  return full([], value, options);
}

/** Runs fn (the garbage collector frees its intermediates). */
export function tidy<T>(fn: () => T): T {
  return fn();
}

/** Runs fn (there are no gradients here). */
export function noGrad<T>(fn: () => T): T {
  return fn();
}

/** Nothing to free. */
export function dispose(_: unknown): void {}

/** Stands for the engine's generator type; the page's samplers (DDIM η = 0, DPM-Solver++) draw no noise. */
export class Generator {
  constructor() {
    throw new Error('array-torch: no random generator in the page; pass the start noise');
  }
}

/** The page supplies its start noise; a sampler that asks for fresh noise is not offered there. */
export function randn(): Tensor {
  throw new Error('array-torch: stochastic sampling is not offered in the page');
}
