// A restricted unpickler (Python pickle protocols 2–5, the opcodes torch.save emits): it builds
// plain values — numbers, strings, bytes, tuples, lists, dicts — and calls only the globals its
// caller allows; any other global (os.system, builtins.eval, …) stops the load before anything
// runs. Nothing in a pickle is ever executed.
import { DataError } from './errors.js';

/** A Python object this reader has no JS form for: a global the caller allowed, called or built. */
export interface PickleGlobal {
  readonly module: string;
  readonly name: string;
}

/** What the caller makes of allowed globals and persistent ids. */
export interface UnpickleHooks {
  /**
   * The value of global module.name: a function (called by REDUCE with its arguments, as
   * Python calls the global) or any value; undefined refuses the global.
   */
  findGlobal(module: string, name: string): unknown;
  /** The object behind a persistent id (torch: ('storage', type, key, location, numel)). */
  persistentLoad?(pid: unknown): unknown;
}

/** Python's None. */
export const NONE = null;

/** A refused or malformed pickle: the user's file is at fault. */
export class PickleError extends DataError {
  override name = 'PickleError';
}

const MARK = Symbol('mark');

/**
 * Unpickles bytes with only the allowed globals.
 * @param bytes the pickle stream.
 * @param file the file's name, for messages.
 * @param hooks the allowed globals and the persistent-id loader.
 * @returns the unpickled value (dicts as Map, tuples and lists as arrays, ints as numbers or bigints).
 * @throws PickleError for a refused global, an unknown opcode or a truncated stream.
 */
export function unpickle(bytes: Uint8Array, file: string, hooks: UnpickleHooks): unknown {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const text = new TextDecoder();
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  let at = 0;
  const bad = (what: string): PickleError => new PickleError(`${file}: ${what}`, file);
  const need = (n: number): void => {
    if (at + n > bytes.length) throw bad('truncated pickle stream; the file is damaged');
  };
  const u8 = (): number => (need(1), bytes[at++]!);
  const u16 = (): number => (need(2), (at += 2), view.getUint16(at - 2, true));
  const u32 = (): number => (need(4), (at += 4), view.getUint32(at - 4, true));
  const i32 = (): number => (need(4), (at += 4), view.getInt32(at - 4, true));
  const take = (n: number): Uint8Array => (need(n), (at += n), bytes.subarray(at - n, at));
  const line = (): string => {
    const end = bytes.indexOf(0x0a, at);
    if (end < 0) throw bad('truncated pickle stream; the file is damaged');
    const s = text.decode(bytes.subarray(at, end));
    at = end + 1;
    return s;
  };
  const pop = (): unknown => {
    if (stack.length === 0) throw bad('malformed pickle (stack underflow)');
    return stack.pop();
  };
  const popMark = (): unknown[] => {
    const m = marks.pop();
    if (m === undefined) throw bad('malformed pickle (no mark)');
    return stack.splice(m);
  };
  const top = (): unknown => stack[stack.length - 1];
  const setItems = (d: unknown, items: unknown[]): void => {
    if (!(d instanceof Map)) throw bad('malformed pickle (SETITEMS on a non-dict)');
    for (let i = 0; i + 1 < items.length; i += 2) d.set(items[i], items[i + 1]);
  };
  const global = (module: string, name: string): unknown => {
    const v = hooks.findGlobal(module, name);
    if (v === undefined) throw bad(`refused: the pickle calls ${module}.${name}, which is not a tensor or a container (a checkpoint needs nothing else; this file may be hostile)`);
    return v;
  };
  const call = (f: unknown, args: unknown): unknown => {
    if (typeof f !== 'function') throw bad('malformed pickle (REDUCE of something that is not callable)');
    if (!Array.isArray(args)) throw bad('malformed pickle (REDUCE arguments are not a tuple)');
    return (f as (...a: unknown[]) => unknown)(...args);
  };
  const long = (b: Uint8Array): number | bigint => {
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
    if (b.length > 0 && b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        u8();
        break;
      case 0x95: // FRAME
        take(8);
        break;
      case 0x2e: // STOP
        return pop();
      case 0x28: // MARK
        marks.push(stack.length);
        break;
      case 0x4e: // NONE
        stack.push(NONE);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x4a: // BININT
        stack.push(i32());
        break;
      case 0x8a: // LONG1
        stack.push(long(take(u8())));
        break;
      case 0x8b: // LONG4
        stack.push(long(take(u32())));
        break;
      case 0x47: // BINFLOAT
        need(8);
        stack.push(view.getFloat64(at, false));
        at += 8;
        break;
      case 0x58: // BINUNICODE
        stack.push(text.decode(take(u32())));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(text.decode(take(u8())));
        break;
      case 0x55: // SHORT_BINSTRING
        stack.push(text.decode(take(u8())));
        break;
      case 0x54: // BINSTRING
        stack.push(text.decode(take(u32())));
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(take(u8()).slice());
        break;
      case 0x42: // BINBYTES
        stack.push(take(u32()).slice());
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push([]);
        break;
      case 0x85: // TUPLE1
        stack.push([pop()]);
        break;
      case 0x86: { // TUPLE2
        const b = pop();
        stack.push([pop(), b]);
        break;
      }
      case 0x87: { // TUPLE3
        const c = pop();
        const b = pop();
        stack.push([pop(), b, c]);
        break;
      }
      case 0x74: // TUPLE
        stack.push(popMark());
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x61: { // APPEND
        const v = pop();
        (top() as unknown[]).push(v);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        (top() as unknown[]).push(...items);
        break;
      }
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x64: { // DICT
        const d = new Map();
        setItems(d, popMark());
        stack.push(d);
        break;
      }
      case 0x73: { // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
      case 0x6a: { // LONG_BINGET
        const k = op === 0x68 ? u8() : u32();
        if (!memo.has(k)) throw bad('malformed pickle (memo miss)');
        stack.push(memo.get(k));
        break;
      }
      case 0x63: { // GLOBAL "module\nname\n"
        const module = line();
        stack.push(global(module, line()));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') throw bad('malformed pickle (STACK_GLOBAL)');
        stack.push(global(module, name));
        break;
      }
      case 0x52: { // REDUCE
        const args = pop();
        stack.push(call(pop(), args));
        break;
      }
      case 0x81: { // NEWOBJ
        const args = pop();
        stack.push(call(pop(), args));
        break;
      }
      case 0x62: { // BUILD: state for the object below; a dict's attributes (e.g. _metadata) are dropped
        pop();
        break;
      }
      case 0x51: { // BINPERSID
        if (hooks.persistentLoad === undefined) throw bad('refused: the pickle references external objects');
        stack.push(hooks.persistentLoad(pop()));
        break;
      }
      default:
        throw bad(`unsupported pickle opcode 0x${op.toString(16)} at byte ${at - 1} (not a torch.save state dict)`);
    }
  }
}
