// The Tensor class: a handle to one at::Tensor with PyTorch's methods under TypeScript casing.
// Every method returns a fresh Tensor (in-place methods return `this`); see memory.ts for how
// they are disposed.
import { call, setWrapper, type HasHandle } from './dispatch.js';
import { dtypeFromCode, DTYPE_CODE, type AnyTypedArray, type Device, type DType } from './dtype.js';
import { track, untrack } from './memory.js';
import { native, type Handle } from './native.js';

export type Scalar = number | boolean;
export type TensorOrScalar = Tensor | number;
export type Dims = number | number[];

/** Nested arrays of numbers or booleans, as `toNested()` returns and `tensor()` accepts. */
export type NestedArray = number | boolean | NestedArray[];

export interface BackwardOptions {
  retainGraph?: boolean;
  createGraph?: boolean;
}

export class Tensor implements HasHandle, Disposable {
  #h: Handle | null;
  #meta: [number[], number, string, boolean] | null = null;

  /** Wraps a native handle; user code creates tensors through the factory functions instead. */
  constructor(handle: Handle) {
    this.#h = handle;
    track(this);
  }

  /** The native handle (throws once disposed). */
  get handle(): Handle {
    if (this.#h === null) throw new Error('Tensor used after dispose()');
    return this.#h;
  }

  private meta(): [number[], number, string, boolean] {
    if (this.#meta === null) this.#meta = native.meta(this.handle);
    return this.#meta;
  }

  /** Forget cached metadata after an in-place op that may change it. */
  private touched(): this {
    this.#meta = null;
    return this;
  }

  get shape(): number[] {
    return this.meta()[0].slice();
  }
  get ndim(): number {
    return this.meta()[0].length;
  }
  get dtype(): DType {
    return dtypeFromCode(this.meta()[1]);
  }
  get device(): Device {
    return this.meta()[2] as Device;
  }
  get requiresGrad(): boolean {
    return native.meta(this.handle)[3];
  }
  get isLeaf(): boolean {
    return native.isLeaf(this.handle);
  }
  /** Name of the autograd node that made this tensor (e.g. 'AddBackward0'), or null. */
  get gradFn(): string | null {
    return native.gradFnName(this.handle);
  }
  get isDisposed(): boolean {
    return this.#h === null;
  }
  /** Size of one dimension (negative counts from the end), or the whole shape. */
  size(): number[];
  size(dim: number): number;
  size(dim?: number): number[] | number {
    const s = this.meta()[0];
    if (dim === undefined) return s.slice();
    const d = dim < 0 ? dim + s.length : dim;
    if (d < 0 || d >= s.length) throw new RangeError(`dimension ${dim} out of range for a ${s.length}-d tensor`);
    return s[d]!;
  }
  numel(): number {
    return this.meta()[0].reduce((a, b) => a * b, 1);
  }
  stride(): number[] {
    return native.strides(this.handle);
  }
  isContiguous(memoryFormat: 'contiguous' | 'channelsLast' = 'contiguous'): boolean {
    return native.isContiguous(this.handle, memoryFormat === 'channelsLast');
  }
  /** True when both tensors view the same storage. */
  sharesStorageWith(other: Tensor): boolean {
    return native.sharesStorage(this.handle, other.handle);
  }

  // ---- memory ---------------------------------------------------------------------------

  /** Releases this handle now. Storage shared with other handles (views) stays alive. */
  dispose(): void {
    if (this.#h === null) return;
    native.dispose(this.#h);
    this.#h = null;
    this.#meta = null;
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
  /** Keeps this tensor alive past the tidy() scopes it was created in. */
  keep(): this {
    untrack(this);
    return this;
  }

  // ---- data -----------------------------------------------------------------------------

  /** The single value of a one-element tensor. */
  item(): number {
    const v = call<number | boolean>('aten::item', [this]);
    return typeof v === 'boolean' ? Number(v) : v;
  }

  /**
   * A copy of the data as a typed array in row-major order (float16/bfloat16 widen to
   * Float32Array, bool reads as Uint8Array, int64 as BigInt64Array).
   */
  data(): AnyTypedArray {
    const d = this.dtype;
    if (d === 'float16' || d === 'bfloat16') {
      const f = this.to('float32');
      try {
        return f.data();
      } finally {
        f.dispose();
      }
    }
    const buf = native.toBuffer(this.handle);
    switch (d) {
      case 'float32': return new Float32Array(buf);
      case 'float64': return new Float64Array(buf);
      case 'int64': return new BigInt64Array(buf);
      case 'int32': return new Int32Array(buf);
      case 'int16': return new Int16Array(buf);
      case 'int8': return new Int8Array(buf);
      default: return new Uint8Array(buf);
    }
  }
  /** The data as plain numbers (int64 converted with Number()). */
  toArray(): number[] {
    const d = this.data();
    return d instanceof BigInt64Array ? Array.from(d, (x) => Number(x)) : Array.from(d as ArrayLike<number>);
  }
  /** The data as nested arrays following the shape (PyTorch's tolist()). */
  toNested(): NestedArray {
    const flat = this.toArray();
    const shape = this.shape;
    if (shape.length === 0) return this.dtype === 'bool' ? flat[0] !== 0 : flat[0]!;
    const isBool = this.dtype === 'bool';
    let i = 0;
    const build = (dim: number): NestedArray[] => {
      const out: NestedArray[] = [];
      for (let k = 0; k < shape[dim]!; k++) {
        if (dim === shape.length - 1) {
          const v = flat[i++]!;
          out.push(isBool ? v !== 0 : v);
        } else {
          out.push(build(dim + 1));
        }
      }
      return out;
    };
    return build(0);
  }
  toString(): string {
    return `Tensor(shape=[${this.shape.join(', ')}], dtype=${this.dtype}, device=${this.device})`;
  }

  // ---- conversion ------------------------------------------------------------------------

  /** Converts dtype and/or device (returns a new tensor; PyTorch returns self when unchanged). */
  to(target: DType | Device | { dtype?: DType; device?: Device }, options: { copy?: boolean } = {}): Tensor {
    let dtype: DType | undefined;
    let device: Device | undefined;
    if (typeof target === 'string') {
      if (target in DTYPE_CODE) dtype = target as DType;
      else device = target as Device;
    } else {
      dtype = target.dtype;
      device = target.device;
    }
    return call('aten::to.device', [this, device ?? this.device, dtype ?? this.dtype, false, options.copy ?? false]);
  }
  float(): Tensor { return this.to('float32'); }
  double(): Tensor { return this.to('float64'); }
  half(): Tensor { return this.to('float16'); }
  bfloat16(): Tensor { return this.to('bfloat16'); }
  long(): Tensor { return this.to('int64'); }
  int(): Tensor { return this.to('int32'); }
  bool(): Tensor { return this.to('bool'); }
  cpu(): Tensor { return this.to('cpu'); }
  cuda(index = 0): Tensor { return this.to(`cuda:${index}`); }
  contiguous(memoryFormat: 'contiguous' | 'channelsLast' = 'contiguous'): Tensor {
    return call('aten::contiguous', [this], { memory_format: memoryFormat });
  }
  clone(memoryFormat?: 'contiguous' | 'channelsLast' | 'preserve'): Tensor {
    return call('aten::clone', [this], { memory_format: memoryFormat });
  }

  // ---- autograd ---------------------------------------------------------------------------

  requiresGrad_(on = true): this {
    native.setRequiresGrad(this.handle, on);
    this.touched();
    return this;
  }
  /** The accumulated gradient (a fresh handle on the same storage), or null. */
  get grad(): Tensor | null {
    const g = native.getGrad(this.handle);
    return g === null ? null : new Tensor(g);
  }
  set grad(g: Tensor | null) {
    native.setGrad(this.handle, g === null ? null : g.handle);
  }
  /** Drops the gradient (PyTorch's set_to_none=True). */
  zeroGrad(): void {
    native.setGrad(this.handle, null);
  }
  /** Backpropagates from this tensor; a non-scalar needs `gradient`. */
  backward(gradient?: Tensor, options: BackwardOptions = {}): void {
    native.backward([this.handle], [gradient?.handle ?? null], options.retainGraph, options.createGraph ?? false);
  }
  detach(): Tensor {
    return call('aten::detach', [this]);
  }
  detach_(): this {
    call<Tensor>('aten::detach_', [this]).dispose();
    return this.touched();
  }

  // ---- arithmetic -------------------------------------------------------------------------

  add(other: TensorOrScalar, alpha: number = 1): Tensor {
    return typeof other === 'number' ? call('aten::add.Scalar', [this, other, alpha]) : call('aten::add.Tensor', [this, other], { alpha });
  }
  sub(other: TensorOrScalar, alpha: number = 1): Tensor {
    return typeof other === 'number' ? call('aten::sub.Scalar', [this, other, alpha]) : call('aten::sub.Tensor', [this, other], { alpha });
  }
  /** other - this (PyTorch's rsub). */
  rsub(other: TensorOrScalar, alpha: number = 1): Tensor {
    return typeof other === 'number' ? call('aten::rsub.Scalar', [this, other, alpha]) : call('aten::rsub.Tensor', [this, other], { alpha });
  }
  mul(other: TensorOrScalar): Tensor {
    return typeof other === 'number' ? call('aten::mul.Scalar', [this, other]) : call('aten::mul.Tensor', [this, other]);
  }
  div(other: TensorOrScalar, roundingMode?: 'trunc' | 'floor'): Tensor {
    if (roundingMode !== undefined) {
      return typeof other === 'number'
        ? call('aten::div.Scalar_mode', [this, other], { rounding_mode: roundingMode })
        : call('aten::div.Tensor_mode', [this, other], { rounding_mode: roundingMode });
    }
    // aten::div is true division whatever the scalar's type, as Python's `/`.
    return typeof other === 'number' ? call('aten::div.Scalar', [this, other]) : call('aten::div.Tensor', [this, other]);
  }
  remainder(other: TensorOrScalar): Tensor {
    return typeof other === 'number' ? call('aten::remainder.Scalar', [this, other]) : call('aten::remainder.Tensor', [this, other]);
  }
  pow(exponent: TensorOrScalar): Tensor {
    return typeof exponent === 'number' ? call('aten::pow.Tensor_Scalar', [this, exponent]) : call('aten::pow.Tensor_Tensor', [this, exponent]);
  }
  neg(): Tensor { return call('aten::neg', [this]); }
  matmul(other: Tensor): Tensor { return call('aten::matmul', [this, other]); }
  mm(other: Tensor): Tensor { return call('aten::mm', [this, other]); }
  bmm(other: Tensor): Tensor { return call('aten::bmm', [this, other]); }
  /** beta * this + alpha * (t1 * t2) elementwise. */
  addcmul(t1: Tensor, t2: Tensor, value = 1): Tensor { return call('aten::addcmul', [this, t1, t2], { value }); }
  addcdiv(t1: Tensor, t2: Tensor, value = 1): Tensor { return call('aten::addcdiv', [this, t1, t2], { value }); }
  lerp(end: Tensor, weight: TensorOrScalar): Tensor {
    return typeof weight === 'number' ? call('aten::lerp.Scalar', [this, end, weight]) : call('aten::lerp.Tensor', [this, end, weight]);
  }

  // ---- in-place ----------------------------------------------------------------------------

  private inplace(qualified: string, args: unknown[], named?: Record<string, unknown>): this {
    call<Tensor>(qualified, [this, ...args], named).dispose();
    return this;
  }
  add_(other: TensorOrScalar, alpha: number = 1): this {
    return typeof other === 'number' ? this.inplace('aten::add_.Scalar', [other, alpha]) : this.inplace('aten::add_.Tensor', [other], { alpha });
  }
  sub_(other: TensorOrScalar, alpha: number = 1): this {
    return typeof other === 'number' ? this.inplace('aten::sub_.Scalar', [other, alpha]) : this.inplace('aten::sub_.Tensor', [other], { alpha });
  }
  mul_(other: TensorOrScalar): this {
    return typeof other === 'number' ? this.inplace('aten::mul_.Scalar', [other]) : this.inplace('aten::mul_.Tensor', [other]);
  }
  div_(other: TensorOrScalar): this {
    return typeof other === 'number' ? this.inplace('aten::div_.Scalar', [other]) : this.inplace('aten::div_.Tensor', [other]);
  }
  pow_(exponent: number): this { return this.inplace('aten::pow_.Scalar', [exponent]); }
  addcmul_(t1: Tensor, t2: Tensor, value = 1): this { return this.inplace('aten::addcmul_', [t1, t2], { value }); }
  addcdiv_(t1: Tensor, t2: Tensor, value = 1): this { return this.inplace('aten::addcdiv_', [t1, t2], { value }); }
  lerp_(end: Tensor, weight: number): this { return this.inplace('aten::lerp_.Scalar', [end, weight]); }
  clamp_(min?: number | null, max?: number | null): this { return this.inplace('aten::clamp_', [min ?? null, max ?? null]); }
  sqrt_(): this { return this.inplace('aten::sqrt_', []); }
  exp_(): this { return this.inplace('aten::exp_', []); }
  neg_(): this { return this.inplace('aten::neg_', []); }
  zero_(): this { return this.inplace('aten::zero_', []); }
  fill_(value: number): this { return this.inplace('aten::fill_.Scalar', [value]); }
  copy_(src: Tensor): this { return this.inplace('aten::copy_', [src]); }
  uniform_(from = 0, to = 1, generator?: { handle: unknown }): this { return this.inplace('aten::uniform_', [from, to], { generator }); }
  normal_(mean = 0, std = 1, generator?: { handle: unknown }): this { return this.inplace('aten::normal_', [mean, std], { generator }); }
  maskedFill_(mask: Tensor, value: number): this { return this.inplace('aten::masked_fill_.Scalar', [mask, value]); }
  relu_(): this { return this.inplace('aten::relu_', []); }
  /**
   * Replaces this tensor's data with src's (any dtype or device), keeping this object and its
   * requires-grad flag: Python's `t.data = src`.
   */
  setData(src: Tensor): this {
    native.setData(this.handle, src.handle);
    return this.touched();
  }
  /** Makes this tensor use source's storage, shape and strides (keeps the same handle object). */
  set_(source: Tensor): this { this.inplace('aten::set_.source_Tensor', [source]); return this.touched(); }

  // ---- comparison and logic -------------------------------------------------------------------

  eq(other: TensorOrScalar): Tensor { return typeof other === 'number' ? call('aten::eq.Scalar', [this, other]) : call('aten::eq.Tensor', [this, other]); }
  ne(other: TensorOrScalar): Tensor { return typeof other === 'number' ? call('aten::ne.Scalar', [this, other]) : call('aten::ne.Tensor', [this, other]); }
  lt(other: TensorOrScalar): Tensor { return typeof other === 'number' ? call('aten::lt.Scalar', [this, other]) : call('aten::lt.Tensor', [this, other]); }
  le(other: TensorOrScalar): Tensor { return typeof other === 'number' ? call('aten::le.Scalar', [this, other]) : call('aten::le.Tensor', [this, other]); }
  gt(other: TensorOrScalar): Tensor { return typeof other === 'number' ? call('aten::gt.Scalar', [this, other]) : call('aten::gt.Tensor', [this, other]); }
  ge(other: TensorOrScalar): Tensor { return typeof other === 'number' ? call('aten::ge.Scalar', [this, other]) : call('aten::ge.Tensor', [this, other]); }
  isnan(): Tensor { return call('aten::isnan', [this]); }
  isinf(): Tensor { return call('aten::isinf', [this]); }
  isfinite(): Tensor { return call('aten::isfinite', [this]); }
  logicalNot(): Tensor { return call('aten::logical_not', [this]); }
  logicalAnd(other: Tensor): Tensor { return call('aten::logical_and', [this, other]); }
  logicalOr(other: Tensor): Tensor { return call('aten::logical_or', [this, other]); }
  allclose(other: Tensor, rtol = 1e-5, atol = 1e-8): boolean { return call<boolean>('aten::allclose', [this, other, rtol, atol, false]); }
  equal(other: Tensor): boolean { return call<boolean>('aten::equal', [this, other]); }
  maximum(other: Tensor): Tensor { return call('aten::maximum', [this, other]); }
  minimum(other: Tensor): Tensor { return call('aten::minimum', [this, other]); }

  // ---- elementwise math -----------------------------------------------------------------------

  exp(): Tensor { return call('aten::exp', [this]); }
  expm1(): Tensor { return call('aten::expm1', [this]); }
  log(): Tensor { return call('aten::log', [this]); }
  log2(): Tensor { return call('aten::log2', [this]); }
  log1p(): Tensor { return call('aten::log1p', [this]); }
  sqrt(): Tensor { return call('aten::sqrt', [this]); }
  rsqrt(): Tensor { return call('aten::rsqrt', [this]); }
  square(): Tensor { return call('aten::square', [this]); }
  reciprocal(): Tensor { return call('aten::reciprocal', [this]); }
  sin(): Tensor { return call('aten::sin', [this]); }
  cos(): Tensor { return call('aten::cos', [this]); }
  tan(): Tensor { return call('aten::tan', [this]); }
  atan(): Tensor { return call('aten::atan', [this]); }
  tanh(): Tensor { return call('aten::tanh', [this]); }
  sigmoid(): Tensor { return call('aten::sigmoid', [this]); }
  erf(): Tensor { return call('aten::erf', [this]); }
  erfinv(): Tensor { return call('aten::erfinv', [this]); }
  abs(): Tensor { return call('aten::abs', [this]); }
  sign(): Tensor { return call('aten::sign', [this]); }
  round(): Tensor { return call('aten::round', [this]); }
  floor(): Tensor { return call('aten::floor', [this]); }
  ceil(): Tensor { return call('aten::ceil', [this]); }
  trunc(): Tensor { return call('aten::trunc', [this]); }
  relu(): Tensor { return call('aten::relu', [this]); }
  silu(): Tensor { return call('aten::silu', [this]); }
  gelu(approximate: 'none' | 'tanh' = 'none'): Tensor { return call('aten::gelu', [this], { approximate }); }
  softplus(beta = 1, threshold = 20): Tensor { return call('aten::softplus', [this, beta, threshold]); }
  clamp(min?: number | null, max?: number | null): Tensor { return call('aten::clamp', [this, min ?? null, max ?? null]); }
  clampMin(min: number): Tensor { return call('aten::clamp_min', [this, min]); }
  clampMax(max: number): Tensor { return call('aten::clamp_max', [this, max]); }
  softmax(dim: number, dtype?: DType): Tensor { return call('aten::softmax.int', [this, dim, dtype ?? null]); }
  logSoftmax(dim: number, dtype?: DType): Tensor { return call('aten::log_softmax.int', [this, dim, dtype ?? null]); }
  nanToNum(nan = 0, posinf?: number, neginf?: number): Tensor { return call('aten::nan_to_num', [this, nan, posinf ?? null, neginf ?? null]); }

  // ---- reductions -------------------------------------------------------------------------------

  sum(dim?: Dims, keepdim = false, dtype?: DType): Tensor {
    return dim === undefined ? call('aten::sum', [this], { dtype }) : call('aten::sum.dim_IntList', [this, toDims(dim), keepdim], { dtype });
  }
  mean(dim?: Dims, keepdim = false, dtype?: DType): Tensor {
    return dim === undefined ? call('aten::mean', [this], { dtype }) : call('aten::mean.dim', [this, toDims(dim), keepdim], { dtype });
  }
  prod(dim?: number, keepdim = false): Tensor {
    return dim === undefined ? call('aten::prod', [this]) : call('aten::prod.dim_int', [this, dim, keepdim]);
  }
  /** Standard deviation; unbiased (Bessel) by default as PyTorch. */
  std(dim?: Dims, unbiased = true, keepdim = false): Tensor {
    return call('aten::std.dim', [this, dim === undefined ? null : toDims(dim), unbiased, keepdim]);
  }
  var(dim?: Dims, unbiased = true, keepdim = false): Tensor {
    return call('aten::var.dim', [this, dim === undefined ? null : toDims(dim), unbiased, keepdim]);
  }
  /** The largest value; with `dim`, [values, indices] along it. */
  max(): Tensor;
  max(dim: number, keepdim?: boolean): [Tensor, Tensor];
  max(dim?: number, keepdim = false): Tensor | [Tensor, Tensor] {
    return dim === undefined ? call('aten::max', [this]) : call('aten::max.dim', [this, dim, keepdim]);
  }
  min(): Tensor;
  min(dim: number, keepdim?: boolean): [Tensor, Tensor];
  min(dim?: number, keepdim = false): Tensor | [Tensor, Tensor] {
    return dim === undefined ? call('aten::min', [this]) : call('aten::min.dim', [this, dim, keepdim]);
  }
  amax(dim: Dims = [], keepdim = false): Tensor { return call('aten::amax', [this, toDims(dim), keepdim]); }
  amin(dim: Dims = [], keepdim = false): Tensor { return call('aten::amin', [this, toDims(dim), keepdim]); }
  argmax(dim?: number, keepdim = false): Tensor { return call('aten::argmax', [this, dim ?? null, keepdim]); }
  argmin(dim?: number, keepdim = false): Tensor { return call('aten::argmin', [this, dim ?? null, keepdim]); }
  logsumexp(dim: Dims, keepdim = false): Tensor { return call('aten::logsumexp', [this, toDims(dim), keepdim]); }
  cumsum(dim: number, dtype?: DType): Tensor { return call('aten::cumsum', [this, dim], { dtype }); }
  cumprod(dim: number, dtype?: DType): Tensor { return call('aten::cumprod', [this, dim], { dtype }); }
  /** p-norm over all elements or the given dims. */
  norm(p = 2, dim?: Dims, keepdim = false): Tensor {
    return dim === undefined ? call('aten::norm.Scalar', [this, p]) : call('aten::norm.ScalarOpt_dim', [this, p, toDims(dim), keepdim]);
  }
  all(): Tensor { return call('aten::all', [this]); }
  any(): Tensor { return call('aten::any', [this]); }

  // ---- shape ---------------------------------------------------------------------------------------

  reshape(shape: number[]): Tensor { return call('aten::reshape', [this, shape]); }
  view(shape: number[]): Tensor { return call('aten::view', [this, shape]); }
  viewAs(other: Tensor): Tensor { return call('aten::view_as', [this, other]); }
  reshapeAs(other: Tensor): Tensor { return call('aten::reshape_as', [this, other]); }
  permute(dims: number[]): Tensor { return call('aten::permute', [this, dims]); }
  transpose(dim0: number, dim1: number): Tensor { return call('aten::transpose.int', [this, dim0, dim1]); }
  /** Transpose of a 2-D tensor. */
  t(): Tensor { return call('aten::t', [this]); }
  expand(shape: number[]): Tensor { return call('aten::expand', [this, shape]); }
  expandAs(other: Tensor): Tensor { return call('aten::expand_as', [this, other]); }
  squeeze(dim?: number): Tensor { return dim === undefined ? call('aten::squeeze', [this]) : call('aten::squeeze.dim', [this, dim]); }
  unsqueeze(dim: number): Tensor { return call('aten::unsqueeze', [this, dim]); }
  flatten(startDim = 0, endDim = -1): Tensor { return call('aten::flatten.using_ints', [this, startDim, endDim]); }
  unflatten(dim: number, sizes: number[]): Tensor { return call('aten::unflatten.int', [this, dim, sizes]); }
  narrow(dim: number, start: number, length: number): Tensor { return call('aten::narrow', [this, dim, start, length]); }
  /** this[..., start:end:step, ...] along dim (a view). */
  slice(dim: number, start?: number | null, end?: number | null, step = 1): Tensor {
    return call('aten::slice.Tensor', [this, dim, start ?? null, end ?? null, step]);
  }
  /** this[..., index, ...] along dim (drops the dim; a view). */
  select(dim: number, index: number): Tensor { return call('aten::select.int', [this, dim, index]); }
  indexSelect(dim: number, index: Tensor): Tensor { return call('aten::index_select', [this, dim, index]); }
  /** Advanced indexing: one index tensor (or null for ':') per leading dimension. */
  index(indices: (Tensor | null)[]): Tensor { return call('aten::index.Tensor', [this, indices]); }
  indexPut_(indices: (Tensor | null)[], values: Tensor, accumulate = false): this {
    return this.inplace('aten::index_put_', [indices, values, accumulate]);
  }
  gather(dim: number, index: Tensor): Tensor { return call('aten::gather', [this, dim, index]); }
  scatter(dim: number, index: Tensor, src: TensorOrScalar): Tensor {
    return typeof src === 'number' ? call('aten::scatter.value', [this, dim, index, src]) : call('aten::scatter.src', [this, dim, index, src]);
  }
  scatterAdd(dim: number, index: Tensor, src: Tensor): Tensor { return call('aten::scatter_add', [this, dim, index, src]); }
  maskedFill(mask: Tensor, value: number): Tensor { return call('aten::masked_fill.Scalar', [this, mask, value]); }
  maskedSelect(mask: Tensor): Tensor { return call('aten::masked_select', [this, mask]); }
  repeat(repeats: number[]): Tensor { return call('aten::repeat', [this, repeats]); }
  repeatInterleave(repeats: number, dim?: number): Tensor { return call('aten::repeat_interleave.self_int', [this, repeats, dim ?? null]); }
  flip(dims: Dims): Tensor { return call('aten::flip', [this, toDims(dims)]); }
  roll(shifts: Dims, dims: Dims = []): Tensor { return call('aten::roll', [this, toDims(shifts), toDims(dims)]); }
  tril(diagonal = 0): Tensor { return call('aten::tril', [this, diagonal]); }
  triu(diagonal = 0): Tensor { return call('aten::triu', [this, diagonal]); }
  chunk(chunks: number, dim = 0): Tensor[] { return call('aten::chunk', [this, chunks, dim]); }
  /** Splits into pieces of `size` (a number) or of the given sizes (an array). */
  split(size: number | number[], dim = 0): Tensor[] {
    return typeof size === 'number' ? call('aten::split.Tensor', [this, size, dim]) : call('aten::split_with_sizes', [this, size, dim]);
  }
  unbind(dim = 0): Tensor[] { return call('aten::unbind.int', [this, dim]); }
  where(condition: Tensor, other: TensorOrScalar): Tensor {
    return typeof other === 'number' ? call('aten::where.ScalarOther', [condition, this, other]) : call('aten::where.self', [condition, this, other]);
  }
  /** Sorted values and indices along dim. */
  sort(dim = -1, descending = false): [Tensor, Tensor] { return call('aten::sort', [this, dim, descending]); }
  topk(k: number, dim = -1, largest = true, sorted = true): [Tensor, Tensor] { return call('aten::topk', [this, k, dim, largest, sorted]); }
}

function toDims(d: Dims): number[] {
  return typeof d === 'number' ? [d] : d;
}

setWrapper((h) => new Tensor(h));

/** True for a live or disposed Tensor object. */
export function isTensor(v: unknown): v is Tensor {
  return v instanceof Tensor;
}
