// The .npy format (NumPy's format.py, versions 1.0–3.0): header dict, then C-order data.
import { DataError } from './errors.js';

/** The element types read and written (numpy's |u1, <i4, <i8, <f4, <f8). */
export type NpyDType = 'uint8' | 'int32' | 'int64' | 'float32' | 'float64';
export type NpyData = Uint8Array | Int32Array | BigInt64Array | Float32Array | Float64Array;

/** An n-dimensional array as stored in a .npy file (C order). */
export interface NpyArray {
  dtype: NpyDType;
  shape: number[];
  data: NpyData;
}

const DESCR: Record<NpyDType, string> = {
  uint8: '|u1',
  int32: '<i4',
  int64: '<i8',
  float32: '<f4',
  float64: '<f8',
};
const KINDS: Record<string, NpyDType> = { u1: 'uint8', i4: 'int32', i8: 'int64', f4: 'float32', f8: 'float64' };
const CTORS = {
  uint8: Uint8Array,
  int32: Int32Array,
  int64: BigInt64Array,
  float32: Float32Array,
  float64: Float64Array,
} as const;

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const ARRAY_ALIGN = 64;
// numpy leaves room to grow the first axis in place (format.py GROWTH_AXIS_MAX_DIGITS).
const GROWTH_AXIS_MAX_DIGITS = 21;

/** The dtype that a typed array holds. */
export function dtypeOf(data: NpyData): NpyDType {
  if (data instanceof Uint8Array) return 'uint8';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof Float32Array) return 'float32';
  return 'float64';
}

function numel(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function pyTuple(shape: number[]): string {
  if (shape.length === 1) return `(${shape[0]},)`;
  return `(${shape.join(', ')})`;
}

/**
 * Serializes an array exactly as numpy.save does (version 1.0 header, 64-byte aligned).
 * @param arr the array (its data length must match its shape).
 * @returns the .npy bytes as [header, data] (the data is not copied).
 */
export function encodeNpy(arr: NpyArray): [Uint8Array, Uint8Array] {
  const { shape, data } = arr;
  if (dtypeOf(data) !== arr.dtype) throw new TypeError(`encodeNpy: dtype ${arr.dtype} but data is ${dtypeOf(data)}`);
  if (numel(shape) !== data.length) {
    throw new RangeError(`encodeNpy: shape ${pyTuple(shape)} needs ${numel(shape)} elements, data has ${data.length}`);
  }
  let dict = `{'descr': '${DESCR[arr.dtype]}', 'fortran_order': False, 'shape': ${pyTuple(shape)}, }`;
  if (shape.length > 0) dict += ' '.repeat(GROWTH_AXIS_MAX_DIGITS - String(shape[0]).length);
  const hlen = dict.length + 1; // + '\n'
  const pad = ARRAY_ALIGN - ((MAGIC.length + 2 + 2 + hlen) % ARRAY_ALIGN);
  const total = MAGIC.length + 2 + 2 + hlen + pad;
  if (total - 10 > 0xffff) throw new RangeError('encodeNpy: header too long for format 1.0');
  const header = new Uint8Array(total);
  header.set(MAGIC, 0);
  header[6] = 1; // major
  header[7] = 0; // minor
  new DataView(header.buffer).setUint16(8, total - 10, true);
  const text = dict + ' '.repeat(pad) + '\n';
  for (let i = 0; i < text.length; i++) header[10 + i] = text.charCodeAt(i);
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return [header, bytes];
}

function byteswap(bytes: Uint8Array, size: number): void {
  for (let i = 0; i < bytes.length; i += size) bytes.subarray(i, i + size).reverse();
}

/**
 * Parses a .npy file's bytes.
 * @param bytes the whole .npy content.
 * @param where names the source in errors (e.g. "samples.npz: arr_0.npy").
 * @returns the array; the data shares `bytes`' memory when it is suitably aligned.
 * @throws DataError for anything that is not a C-order array of a supported dtype.
 */
export function parseNpy(bytes: Uint8Array, where: string): NpyArray {
  if (bytes.length < 10 || MAGIC.some((m, i) => bytes[i] !== m)) {
    throw new DataError(`${where}: not a .npy array (bad magic); re-save it with numpy.save or numpy.savez`);
  }
  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const [hlen, start] = major === 1 ? [view.getUint16(8, true), 10] : [view.getUint32(8, true), 12];
  if (start + hlen > bytes.length) throw new DataError(`${where}: truncated .npy header; the file is incomplete`);
  const header = Buffer.from(bytes.subarray(start, start + hlen)).toString(major === 3 ? 'utf8' : 'latin1');
  const descr = /'descr'\s*:\s*'([<>|=])([a-zA-Z]\d+)'/.exec(header);
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header);
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header);
  if (!descr || !fortran || !shapeText) {
    throw new DataError(`${where}: unsupported .npy header ${JSON.stringify(header.trim())} (structured or object arrays are not supported)`);
  }
  const dtype = KINDS[descr[2]!];
  if (!dtype) {
    throw new DataError(`${where}: dtype '${descr[1]}${descr[2]}' is not supported; convert to uint8, int32, int64, float32 or float64 (numpy: arr.astype(...))`);
  }
  if (fortran[1] === 'True') {
    throw new DataError(`${where}: Fortran-order arrays are not supported; save numpy.ascontiguousarray(arr)`);
  }
  const shape = shapeText[1]!.split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) throw new DataError(`${where}: bad shape (${shapeText[1]})`);
  const n = numel(shape);
  const Ctor = CTORS[dtype];
  const size = Ctor.BYTES_PER_ELEMENT;
  const offset = start + hlen;
  if (bytes.length - offset !== n * size) {
    throw new DataError(
      `${where}: shape ${pyTuple(shape)} of ${dtype} needs ${n * size} data bytes but the file has ${bytes.length - offset}; the file is truncated or corrupt`,
    );
  }
  const bigEndian = descr[1] === '>' && size > 1;
  const aligned = (bytes.byteOffset + offset) % size === 0;
  let raw = bytes.subarray(offset);
  if (!aligned || bigEndian) {
    // A real copy (Buffer#slice would be a view), at offset 0 of fresh memory.
    const copy = new Uint8Array(raw.length);
    copy.set(raw);
    raw = copy;
  }
  if (bigEndian) byteswap(raw, size);
  return { dtype, shape, data: new Ctor(raw.buffer as ArrayBuffer, raw.byteOffset, n) };
}
