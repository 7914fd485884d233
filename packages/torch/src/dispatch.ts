// The bridge from TypeScript calls to the native dispatcher: cached operator handles, argument
// conversion (Tensor -> handle) and result wrapping (handle -> Tensor).
import { native, type Handle, type OpHandle } from './native.js';

/** Implemented by Tensor; kept as an interface so this module does not import the class. */
export interface HasHandle {
  readonly handle: Handle;
}

export interface GeneratorLike {
  readonly handle: import('./native.js').GeneratorHandle;
}

let wrapHandle: (h: Handle) => unknown = () => {
  throw new Error('dispatch used before tensor.ts was loaded');
};

/** tensor.ts registers how a native handle becomes a Tensor. */
export function setWrapper(fn: (h: Handle) => unknown): void {
  wrapHandle = fn;
}

const opCache = new Map<string, OpHandle>();

/** A cached operator handle for 'aten::name' or 'aten::name.overload'. */
export function op(qualified: string): OpHandle {
  let h = opCache.get(qualified);
  if (h === undefined) {
    const sep = qualified.indexOf('::');
    const dot = qualified.indexOf('.', sep);
    const name = dot < 0 ? qualified : qualified.slice(0, dot);
    const overload = dot < 0 ? '' : qualified.slice(dot + 1);
    h = native.findOp(name, overload);
    opCache.set(qualified, h);
  }
  return h;
}

function isHandleOwner(v: unknown): v is HasHandle {
  return typeof v === 'object' && v !== null && 'handle' in v;
}

function toNative(v: unknown): unknown {
  if (v === null || v === undefined || typeof v !== 'object') return v;
  if (isHandleOwner(v)) return v.handle;
  if (Array.isArray(v)) return v.map(toNative);
  return v;
}

function fromNative(r: unknown): unknown {
  if (r === null || typeof r !== 'object') return r;
  if (Array.isArray(r)) return r.map(fromNative);
  return wrapHandle(r as Handle);
}

function convertNamed(named: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (named === undefined) return undefined;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(named)) if (v !== undefined) out[k] = toNative(v);
  return out;
}

/** Calls an ATen operator by qualified name ('aten::add.Tensor') with positional and named args. */
export function call<T = unknown>(qualified: string, args: unknown[], named?: Record<string, unknown>): T {
  return fromNative(native.callOp(op(qualified), args.map(toNative), convertNamed(named))) as T;
}

/**
 * Calls any registered operator by name, choosing the first overload whose schema accepts the
 * arguments (Python's torch.ops does the same). The escape hatch when no typed wrapper exists.
 */
export function callByName<T = unknown>(name: string, args: unknown[], named?: Record<string, unknown>): T {
  const qualified = name.includes('::') ? name : `aten::${name}`;
  return fromNative(native.callOpByName(qualified, args.map(toNative), convertNamed(named))) as T;
}

/** The full schema of an operator, e.g. for 'aten::conv2d'. */
export function schema(qualified: string): string {
  return native.opSchema(op(qualified));
}

/** Every registered operator schema. */
export function listOps(): string[] {
  return native.listOps();
}
