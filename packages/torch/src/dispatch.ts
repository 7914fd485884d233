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

interface OpEntry {
  readonly handle: OpHandle;
  /** The schema's argument names, fetched on the first call with named arguments. */
  argNames: string[] | null;
}

const opCache = new Map<string, OpEntry>();

function entry(qualified: string): OpEntry {
  let e = opCache.get(qualified);
  if (e === undefined) {
    const sep = qualified.indexOf('::');
    const dot = qualified.indexOf('.', sep);
    const name = dot < 0 ? qualified : qualified.slice(0, dot);
    const overload = dot < 0 ? '' : qualified.slice(dot + 1);
    e = { handle: native.findOp(name, overload), argNames: null };
    opCache.set(qualified, e);
  }
  return e;
}

/** A cached operator handle for 'aten::name' or 'aten::name.overload'. */
export function op(qualified: string): OpHandle {
  return entry(qualified).handle;
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

/**
 * The native arguments of a call: positional values converted, named values placed at their
 * schema positions (a positional value wins, as before). Done here because the JIT makes it
 * nearly free, where reading a JS object's keys natively cost ~0.5 us per call.
 */
function positional(qualified: string, e: OpEntry, args: unknown[], named: Record<string, unknown> | undefined): unknown[] {
  const out = args.map(toNative);
  if (named === undefined) return out;
  const names = (e.argNames ??= native.opArgNames(e.handle));
  for (const k in named) {
    const v = named[k];
    if (v === undefined) continue;
    const i = names.indexOf(k);
    if (i < 0) throw new TypeError(`${qualified}: unexpected named argument '${k}'`);
    if (out[i] === undefined) out[i] = toNative(v);
  }
  return out;
}

/** Calls an ATen operator by qualified name ('aten::add.Tensor') with positional and named args. */
export function call<T = unknown>(qualified: string, args: unknown[], named?: Record<string, unknown>): T {
  const e = entry(qualified);
  return fromNative(native.callOp(e.handle, positional(qualified, e, args, named))) as T;
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
