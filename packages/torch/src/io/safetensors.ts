// safetensors files (huggingface/safetensors), byte-compatible with the Rust/Python library:
// an 8-byte little-endian header length, a JSON header padded with spaces to a multiple of 8,
// then the tensors' bytes back to back (C order, little endian), largest dtype first.
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { empty } from '../creation.js';
import { BYTES_PER_ELEMENT, type DType } from '../dtype.js';
import { native } from '../native.js';
import type { Tensor } from '../tensor.js';

/** safetensors dtype names of the dtypes libtorch has. */
const ST_DTYPE: Record<DType, string> = {
  float64: 'F64', float32: 'F32', float16: 'F16', bfloat16: 'BF16', int64: 'I64',
  int32: 'I32', int16: 'I16', int8: 'I8', uint8: 'U8', bool: 'BOOL',
};
const TORCH_DTYPE = new Map<string, DType>(Object.entries(ST_DTYPE).map(([d, s]) => [s, d as DType]));

/**
 * Every dtype of the format with its element size; the order is the Rust `Dtype` enum's
 * (ascending alignment), which the writer sorts by, largest first.
 */
const ST_ELEMENT_SIZE: [string, number][] = [
  ['BOOL', 1], ['U8', 1], ['I8', 1], ['F8_E5M2', 1], ['F8_E4M3', 1], ['I16', 2], ['U16', 2], ['F16', 2],
  ['BF16', 2], ['I32', 4], ['U32', 4], ['F32', 4], ['F64', 8], ['I64', 8], ['U64', 8],
];
const ELEMENT_SIZE = new Map(ST_ELEMENT_SIZE);
const DTYPE_RANK = new Map(ST_ELEMENT_SIZE.map(([d], i) => [d, i]));

/** The Rust library refuses headers over 100 MB; so do we. */
const MAX_HEADER_BYTES = 100_000_000;
const METADATA_KEY = '__metadata__';

/** One tensor as the header describes it; offsets are relative to the data section. */
export interface SafetensorsEntry {
  name: string;
  /** The safetensors dtype name ('F32', 'BF16', ...). */
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  /** Bytes of the JSON header (padding included). */
  headerLength: number;
  /** File offset of the data section (8 + headerLength). */
  dataOffset: number;
  /** The `__metadata__` strings, or null when the file has none. */
  metadata: Record<string, string> | null;
  /** The tensors in data order. */
  entries: SafetensorsEntry[];
}

class SafetensorsError extends Error {
  constructor(file: string, what: string) {
    super(`${file}: invalid safetensors file: ${what}`);
  }
}

const quote = (s: string): string => JSON.stringify(s);
const isIndex = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** Validates one tensor's header entry (types, dtype, and that shape × dtype fills its range). */
function parseEntry(name: string, v: unknown, fail: (what: string) => never): SafetensorsEntry {
  const label = `tensor ${quote(name)}`;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(`${label} is not an object`);
  const { dtype, shape, data_offsets: offsets } = v as Record<string, unknown>;
  if (typeof dtype !== 'string') fail(`${label} has no dtype string`);
  const size = ELEMENT_SIZE.get(dtype);
  if (size === undefined) fail(`${label} has unknown dtype ${quote(dtype)}`);
  if (!Array.isArray(shape) || !shape.every(isIndex)) fail(`${label} has an invalid shape (want non-negative integers)`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isIndex)) {
    fail(`${label} has invalid data_offsets (want [begin, end], non-negative integers)`);
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) fail(`${label} has data_offsets [${begin}, ${end}] that end before they begin`);
  const numel = (shape as number[]).reduce((a, b) => a * b, 1);
  const nbytes = numel * size;
  if (!Number.isSafeInteger(nbytes)) fail(`${label} is too large (shape [${shape}])`);
  if (end - begin !== nbytes) {
    fail(`${label} has shape [${shape}] of ${dtype} (${nbytes} bytes) but data_offsets [${begin}, ${end}] span ${end - begin} bytes`);
  }
  return { name, dtype, shape: shape as number[], begin, end };
}

function parseMetadata(v: unknown, fail: (what: string) => never): Record<string, string> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(`${METADATA_KEY} is not an object`);
  for (const [k, s] of Object.entries(v as object)) {
    if (typeof s !== 'string') fail(`${METADATA_KEY} value for ${quote(k)} is not a string`);
  }
  return { ...(v as Record<string, string>) };
}

/**
 * Parses and validates a safetensors header: its length is sane and inside the file, the JSON
 * is valid, every dtype is known, shape × dtype size equals each byte range, and the ranges tile
 * the data section exactly (contiguous, non-overlapping, ending at the end of the file).
 * @param bytes the file's first bytes: at least 8 + the header length (the whole file is fine).
 * @param options fileSize: the file's total size (default bytes.length); file: the name used in
 *   error messages.
 * @returns the header, its tensors in data order.
 * @throws an Error naming the file and what is wrong, on one line.
 */
export function parseSafetensorsHeader(bytes: Uint8Array, options: { fileSize?: number; file?: string } = {}): SafetensorsHeader {
  const file = options.file ?? '<buffer>';
  const fileSize = options.fileSize ?? bytes.length;
  const fail = (what: string): never => {
    throw new SafetensorsError(file, what);
  };
  if (fileSize < 8) fail(`the file has ${fileSize} bytes, fewer than the 8-byte header length`);
  if (bytes.length < 8) fail(`only ${bytes.length} bytes given, fewer than the 8-byte header length`);
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) fail(`header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  const headerLength = Number(n);
  if (8 + headerLength > fileSize) fail(`header length ${headerLength} runs past the end of the file (${fileSize} bytes)`);
  if (8 + headerLength > bytes.length) fail(`only ${bytes.length} bytes given for a ${headerLength}-byte header`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLength));
  } catch {
    return fail('header is not valid UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    const why = (e as Error).message.replace(/\s+/g, ' ').slice(0, 120);
    return fail(`header is not valid JSON (${why})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail('header is not a JSON object');
  let metadata: Record<string, string> | null = null;
  const entries: SafetensorsEntry[] = [];
  for (const [name, v] of Object.entries(json as object)) {
    if (name === METADATA_KEY) metadata = parseMetadata(v, fail);
    else entries.push(parseEntry(name, v, fail));
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let offset = 0;
  for (const e of entries) {
    if (e.begin < offset) fail(`tensor ${quote(e.name)} at bytes [${e.begin}, ${e.end}] overlaps the previous tensor (ends at ${offset})`);
    if (e.begin > offset) fail(`${e.begin - offset} bytes before tensor ${quote(e.name)} belong to no tensor (data not contiguous)`);
    offset = e.end;
  }
  const expected = 8 + headerLength + offset;
  if (fileSize < expected) fail(`the file is truncated: header and tensors need ${expected} bytes, the file has ${fileSize}`);
  if (fileSize > expected) fail(`${fileSize - expected} bytes after the last tensor (the header describes ${expected} bytes, the file has ${fileSize})`);
  return { headerLength, dataOffset: 8 + headerLength, metadata, entries };
}

/**
 * Reads and validates the header of a safetensors file without loading any tensor.
 * @param file path of the file.
 * @returns the header (see parseSafetensorsHeader).
 */
export function readSafetensorsHeader(file: string): SafetensorsHeader {
  const fd = fs.openSync(file, 'r');
  try {
    const fileSize = fs.fstatSync(fd).size;
    const prefix = Buffer.alloc(Math.min(8, fileSize));
    fs.readSync(fd, prefix, 0, prefix.length, 0);
    if (fileSize < 8) return parseSafetensorsHeader(prefix, { fileSize, file });
    const n = prefix.readBigUInt64LE(0);
    // Read no more than the file holds or the limit allows; the parser reports the rest.
    const want = 8 + Number(n > BigInt(MAX_HEADER_BYTES) ? 0n : n);
    const bytes = Buffer.alloc(Math.min(want, fileSize));
    fs.readSync(fd, bytes, 0, bytes.length, 0);
    return parseSafetensorsHeader(bytes, { fileSize, file });
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Loads every tensor of a safetensors file. Each tensor is read straight from the file into its
 * own storage (one copy); everything is validated first (see parseSafetensorsHeader).
 * @param file path of the file.
 * @returns the tensors by name (in data order) and the `__metadata__` strings (null if none).
 * @throws an Error naming the file and what is wrong, on one line.
 */
export function loadSafetensors(file: string): { tensors: Record<string, Tensor>; metadata: Record<string, string> | null } {
  const header = readSafetensorsHeader(file);
  for (const e of header.entries) {
    if (!TORCH_DTYPE.has(e.dtype)) {
      throw new SafetensorsError(file, `tensor ${quote(e.name)} has dtype ${e.dtype}, which libtorch cannot hold`);
    }
  }
  const tensors: Record<string, Tensor> = {};
  try {
    for (const e of header.entries) {
      const t = empty(e.shape, { dtype: TORCH_DTYPE.get(e.dtype)! });
      tensors[e.name] = t;
      if (e.end > e.begin) native.readInto(t.handle, file, header.dataOffset + e.begin);
    }
  } catch (err) {
    for (const t of Object.values(tensors)) t.dispose();
    throw err;
  }
  return { tensors, metadata: header.metadata };
}

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

interface Planned {
  name: string;
  tensor: Tensor;
  dtype: string;
  shape: number[];
  nbytes: number;
}

/**
 * The header bytes the Rust library writes: compact JSON (`__metadata__` first, then tensors in
 * data order), padded with spaces to a multiple of 8. The JSON is assembled by hand because
 * JavaScript objects put integer-like keys first.
 */
function headerBytes(planned: Planned[], metadata: Record<string, string> | null): Buffer {
  const parts: string[] = [];
  if (metadata !== null) {
    // The library writes a HashMap (unspecified order); sorting makes our files reproducible.
    const keys = Object.keys(metadata).sort(byteOrder);
    parts.push(`${quote(METADATA_KEY)}:{${keys.map((k) => `${quote(k)}:${quote(metadata[k]!)}`).join(',')}}`);
  }
  let offset = 0;
  for (const p of planned) {
    parts.push(`${quote(p.name)}:{"dtype":${quote(p.dtype)},"shape":[${p.shape.join(',')}],"data_offsets":[${offset},${offset + p.nbytes}]}`);
    offset += p.nbytes;
  }
  const json = Buffer.from(`{${parts.join(',')}}`, 'utf8');
  const padding = (8 - (json.length % 8)) % 8;
  return Buffer.concat([json, Buffer.alloc(padding, 0x20)]);
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += fs.writeSync(fd, bytes, done, bytes.length - done);
}

/**
 * Writes tensors as a safetensors file, byte-identical to Python's `safetensors.torch.save_file`
 * (tensors sorted by dtype, largest first, then by name; metadata keys sorted). The write is
 * atomic: a temporary file in the same directory, fsync, then rename over `file`.
 * @param file destination path.
 * @param tensors tensors by name (any device or layout; written contiguous, little endian).
 * @param metadata optional string-to-string `__metadata__` (omitted from the header when absent).
 */
export function saveSafetensors(file: string, tensors: Record<string, Tensor>, metadata?: Record<string, string> | null): void {
  if (metadata != null) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new TypeError(`saveSafetensors(${file}): metadata value for ${quote(k)} is not a string`);
    }
  }
  const planned: Planned[] = Object.entries(tensors).map(([name, tensor]) => {
    if (name === METADATA_KEY) throw new Error(`saveSafetensors(${file}): ${METADATA_KEY} cannot name a tensor`);
    const shape = tensor.shape;
    const nbytes = shape.reduce((a, b) => a * b, 1) * BYTES_PER_ELEMENT[tensor.dtype];
    return { name, tensor, dtype: ST_DTYPE[tensor.dtype], shape, nbytes };
  });
  planned.sort((a, b) => DTYPE_RANK.get(b.dtype)! - DTYPE_RANK.get(a.dtype)! || byteOrder(a.name, b.name));
  const header = headerBytes(planned, metadata ?? null);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(header.length));

  const dir = path.dirname(path.resolve(file));
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  let fd: number | null = fs.openSync(tmp, 'wx', 0o644);
  try {
    writeAll(fd, length);
    writeAll(fd, header);
    for (const p of planned) if (p.nbytes > 0) writeAll(fd, new Uint8Array(native.toBuffer(p.tensor.handle)));
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = null;
    fs.renameSync(tmp, file);
  } catch (e) {
    if (fd !== null) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  syncDirectory(dir);
}

/** Makes the rename durable; some platforms cannot fsync a directory, which is harmless. */
function syncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // best effort
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
