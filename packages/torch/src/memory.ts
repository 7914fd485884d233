// Deterministic disposal: scopes (tidy) that dispose what they created unless it is returned or
// kept. This is the first line of memory management; native bytes reported to V8 and the
// handle finalizer are the backstop for tensors nobody disposed.

/** Anything that owns native memory and can be disposed (a Tensor). */
export interface Disposable {
  dispose(): void;
  readonly isDisposed: boolean;
}

type Scope = Set<Disposable>;
const scopes: Scope[] = [];

/** Called by every new tensor: the innermost open scope owns it. */
export function track(t: Disposable): void {
  const s = scopes[scopes.length - 1];
  if (s !== undefined) s.add(t);
}

/** Removes t from every open scope, so it outlives them (parameters, caches, results). */
export function untrack(t: Disposable): void {
  for (const s of scopes) s.delete(t);
}

function collect(value: unknown, out: Set<Disposable>, depth = 0): void {
  if (value === null || typeof value !== 'object' || depth > 8) return;
  if (typeof (value as Disposable).dispose === 'function' && 'isDisposed' in (value as object)) {
    out.add(value as Disposable);
    return;
  }
  if (Array.isArray(value)) {
    for (const v of value) collect(v, out, depth + 1);
  } else if (value instanceof Map) {
    for (const v of value.values()) collect(v, out, depth + 1);
  } else if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) collect(v, out, depth + 1);
  }
}

/**
 * Runs fn in a scope: every tensor created inside is disposed when fn returns, except the
 * tensors in its result (a tensor, or arrays / plain objects / maps of them), which move to the
 * enclosing scope. fn must be synchronous.
 */
export function tidy<T>(fn: () => T): T {
  const scope: Scope = new Set();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    scopes.pop();
    for (const t of scope) t.dispose();
    throw e;
  }
  scopes.pop();
  if (result instanceof Promise) {
    for (const t of scope) t.dispose();
    throw new TypeError('tidy(fn): fn must be synchronous (it returned a Promise)');
  }
  const keep = new Set<Disposable>();
  collect(result, keep);
  const parent = scopes[scopes.length - 1];
  for (const t of scope) {
    if (keep.has(t)) {
      if (parent !== undefined) parent.add(t);
    } else if (!t.isDisposed) {
      t.dispose();
    }
  }
  return result;
}

/** Disposes every tensor in a value (a tensor, or arrays / plain objects / maps of them). */
export function dispose(value: unknown): void {
  const all = new Set<Disposable>();
  collect(value, all);
  for (const t of all) t.dispose();
}
