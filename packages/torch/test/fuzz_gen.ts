// Random values for the native-layer fuzz (fuzz_child.ts): a seeded PRNG, random tensors of every
// dtype and shape (0-size dims and scalars included), and arguments drawn from an operator's schema
// type, mostly well-typed (so calls reach libtorch's own checks) and sometimes deliberately wrong.
import * as torch from '../src/index.js';
import type { DType, Tensor } from '../src/index.js';

/** mulberry32: a small seeded PRNG, so a failing run is replayed exactly by its seed. */
export class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }
  /** A float in [0, 1). */
  next(): number {
    let t = (this.#s = (this.#s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(list: readonly T[]): T {
    return list[Math.floor(this.next() * list.length)]!;
  }
}

export const DTYPES: readonly DType[] = ['float32', 'float64', 'float16', 'bfloat16', 'int8', 'int16', 'int32', 'int64', 'uint8', 'bool'];

// Sizes stay tiny (at most 5^4 elements) or astronomically large (>= 2^40): any product of them
// is either cheap or a request no allocator grants, never a 10 GB allocation that succeeds.
const DIMS = [0, 1, 1, 2, 3, 5];
const HUGE = [2 ** 40, 2 ** 53 - 1, 1e15, -(2 ** 53)];
const SMALL_INTS = [-3, -2, -1, 0, 0, 1, 1, 2, 2, 3, 4, 6];
const BAD_INTS: unknown[] = [NaN, Infinity, -Infinity, 1.5, '2', null, {}, [1], 2n ** 62n, -(2n ** 63n), 2n ** 64n, true];
const FLOATS = [0, 1, -1, 0.5, -2.5, 1e-12, 3, -0, NaN, Infinity, -Infinity, 1e308, -1e308, 5e-324];
const STRINGS = ['mean', 'sum', 'none', 'tanh', 'constant', 'reflect', 'replicate', 'circular', 'fro', 'nuc', 'ortho', 'backward',
  'bilinear', 'nearest', 'floor', 'trunc', 'reduced', 'L', 'zzz', '', 'N', '...', 'a\nb'];
const DEVICES = ['cpu', 'cpu', 'cpu', 'meta', 'cuda', 'cuda:7', 'gpu', ''];
const FORMATS = ['contiguous', 'channelsLast', 'preserve', 'sideways'];

/** A random shape: a scalar, or rank 1-4 with dims from DIMS; `huge` sometimes adds one of HUGE. */
export function randShape(r: Rng, huge = false): number[] {
  const rank = r.pick([0, 1, 1, 2, 2, 3, 4]);
  const shape = Array.from({ length: rank }, () => r.pick(DIMS));
  if (huge && rank > 0) shape[r.int(0, rank - 1)] = r.pick(HUGE.filter((h) => h > 0));
  return shape;
}

/** A shape that broadcasts with (or, sometimes, clashes with) `like`. */
export function relatedShape(r: Rng, like: number[]): number[] {
  const u = r.next();
  if (u < 0.5) return like.slice();
  if (u < 0.7) return like.map((d) => (r.chance(0.4) ? 1 : d)); // broadcastable
  if (u < 0.8) return like.slice(r.int(0, like.length)); // trailing dims: broadcastable
  return randShape(r); // usually incompatible
}

/** A random tensor of the given (or a random) shape and dtype, with NaN/Inf now and then. */
export function randTensor(r: Rng, shape = randShape(r), dtype: DType = r.pick(DTYPES)): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const floatPool = r.chance(0.2) ? FLOATS : [0, 1, -1, 0.5, 2, -3.25, 4];
  const data = Float64Array.from({ length: n }, () => (dtype.startsWith('float') || dtype === 'bfloat16' ? r.pick(floatPool) : r.pick(SMALL_INTS)));
  return torch.tensor(data, { shape }).to(dtype);
}

/** A value that is not a (live) tensor. */
export function notTensor(r: Rng): unknown {
  const i = r.int(0, 6);
  if (i === 0) {
    const t = torch.zeros([1]);
    t.dispose();
    return t; // disposed
  }
  return [1, 'x', {}, [[1]], new Float32Array(2), { handle: {} }][i - 1];
}

/** One parsed argument of an operator schema. */
export interface SchemaArg {
  /** The type without alias annotations, e.g. 'Tensor', 'int', 'Tensor?[]'. */
  type: string;
  name: string;
  hasDefault: boolean;
}

/** Parses 'aten::name.overload(Type a, *, Type b=default) -> ...' into its arguments. */
export function parseSchema(schema: string): { name: string; args: SchemaArg[] } {
  const open = schema.indexOf('(');
  const name = schema.slice(0, open);
  let depth = 0;
  let close = open;
  for (let i = open; i < schema.length; i++) {
    if (schema[i] === '(' || schema[i] === '[') depth++;
    if (schema[i] === ')' || schema[i] === ']') depth--;
    if (depth === 0) {
      close = i;
      break;
    }
  }
  const parts: string[] = [];
  let cur = '';
  depth = 0;
  for (const ch of schema.slice(open + 1, close)) {
    if (ch === '(' || ch === '[') depth++;
    if (ch === ')' || ch === ']') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  if (cur.trim() !== '') parts.push(cur.trim());
  const args = parts
    .filter((p) => p !== '*')
    .map((p) => {
      const eq = p.indexOf('=');
      const decl = eq < 0 ? p : p.slice(0, eq);
      const sp = decl.lastIndexOf(' ');
      return { type: decl.slice(0, sp).replace(/\([^)]*\)/g, ''), name: decl.slice(sp + 1), hasDefault: eq >= 0 };
    });
  return { name, args };
}

function randInt(r: Rng): unknown {
  const u = r.next();
  if (u < 0.85) return r.pick(SMALL_INTS);
  if (u < 0.93) return r.pick(HUGE);
  return r.pick(BAD_INTS);
}

function randIntList(r: Rng, n: number | undefined, like: number[]): unknown {
  const u = r.next();
  if (u < 0.3 && like.length > 0) return like.map((d) => (r.chance(0.8) ? d : (randInt(r) as number)));
  if (u < 0.4 && n !== undefined) return randInt(r); // int[2] accepts one number
  if (u < 0.45) return 'not a list';
  return Array.from({ length: n !== undefined && r.chance(0.7) ? n : r.int(0, 4) }, () => (r.chance(0.9) ? r.pick(SMALL_INTS) : randInt(r)));
}

function randScalar(r: Rng): unknown {
  const u = r.next();
  if (u < 0.55) return r.pick(SMALL_INTS);
  if (u < 0.9) return r.pick(FLOATS);
  if (u < 0.95) return r.pick([true, false, 2n ** 70n, 2 ** 62]);
  return r.pick(['1', null, {}, [1]]);
}

/**
 * A value for one schema argument. `self` is the operator's first tensor, so that most other
 * tensors relate to its shape and calls go deep; `wrong` gives a value of a wrong type.
 */
export function argFor(r: Rng, type: string, self: Tensor | null, wrong: boolean): unknown {
  const like = self?.shape ?? randShape(r);
  if (wrong) return r.pick([notTensor(r), 'x', NaN, -1, [null], { a: 1 }, undefined, Symbol('s'), () => 1]);
  const optional = type.includes('?');
  if (optional && r.chance(0.35)) return null;
  const base = type.replace(/\?/g, '');
  const list = /\[(\d*)\]$/.exec(base);
  const elem = list ? base.slice(0, list.index) : base;
  if (list) {
    const n = list[1] === '' ? undefined : Number(list[1]);
    if (elem === 'int' || elem === 'SymInt') return randIntList(r, n, like);
    if (elem === 'Tensor') return Array.from({ length: r.int(0, 3) }, () => (r.chance(0.1) ? null : randTensor(r, relatedShape(r, like))));
    if (elem === 'float') return Array.from({ length: n ?? r.int(0, 3) }, () => r.pick(FLOATS));
    if (elem === 'bool') return Array.from({ length: n ?? r.int(0, 3) }, () => r.chance(0.5));
    if (elem === 'Scalar') return Array.from({ length: r.int(0, 3) }, () => randScalar(r));
    return Array.from({ length: r.int(0, 2) }, () => r.pick(STRINGS));
  }
  switch (elem) {
    case 'Tensor':
      return self === null || r.chance(0.15) ? randTensor(r) : randTensor(r, relatedShape(r, like), r.chance(0.6) ? self.dtype : r.pick(DTYPES));
    case 'int':
    case 'SymInt':
      return randInt(r);
    case 'float':
      return r.pick(FLOATS);
    case 'Scalar':
      return randScalar(r);
    case 'bool':
      return r.chance(0.95) ? r.chance(0.5) : r.pick([0, 'true']);
    case 'str':
      return r.pick(STRINGS);
    case 'ScalarType':
      return r.chance(0.9) ? r.pick(DTYPES) : r.pick(['complex64', 'float8', 99]);
    case 'Device':
      return r.pick(DEVICES);
    case 'Layout':
      return r.pick(['strided', 'sparse', 0]);
    case 'MemoryFormat':
      return r.pick(FORMATS);
    case 'Generator':
      return r.chance(0.7) ? new torch.Generator({ seed: r.int(0, 99) }) : r.pick([{}, 'g']);
    default:
      return r.pick([null, 1, 'x']);
  }
}
