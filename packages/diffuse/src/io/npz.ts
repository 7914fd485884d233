// .npz files (numpy.savez / savez_compressed): a zip of .npy arrays named arr_0.npy, arr_1.npy, ...
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from './atomic.js';
import { DataError } from './errors.js';
import { encodeNpy, parseNpy, type NpyArray } from './npy.js';
import { readZip, writeZip } from './zip.js';

function readError(err: unknown, file: string): never {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') throw new DataError(`${file}: no such file; check the path`, file);
  if (code === 'EISDIR') throw new DataError(`${file}: is a folder, expected an .npz file`, file);
  throw new DataError(`${file}: cannot read (${(err as Error).message.split('\n')[0]})`, file);
}

/**
 * Parses an .npz archive held in memory.
 * @param bytes the archive.
 * @param file its name, for error messages.
 * @returns the arrays by key (the entry name without ".npy"), in archive order.
 */
export function parseNpz(bytes: Uint8Array, file: string): Map<string, NpyArray> {
  const arrays = new Map<string, NpyArray>();
  for (const entry of readZip(bytes, file)) {
    if (!entry.name.endsWith('.npy')) continue;
    arrays.set(entry.name.slice(0, -4), parseNpy(entry.data, `${file}: ${entry.name}`));
  }
  return arrays;
}

/**
 * Reads an .npz file (stored or deflated entries, as numpy.savez and savez_compressed write).
 * @param file the path.
 * @returns the arrays by key ("arr_0", "arr_1", ... for positional savez arguments).
 * @throws DataError naming the file when it is missing, truncated or not a supported npz.
 */
export async function readNpz(file: string): Promise<Map<string, NpyArray>> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (err) {
    readError(err, file);
  }
  return parseNpz(bytes, file);
}

/** Synchronous twin of readNpz. */
export function readNpzSync(file: string): Map<string, NpyArray> {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    readError(err, file);
  }
  return parseNpz(bytes, file);
}

/**
 * Builds .npz bytes that numpy.load reads; each array's .npy bytes equal numpy.save's.
 * @param arrays arrays by key (give "arr_0", "arr_1" to match numpy.savez(path, a, b)).
 * @param compress deflate the entries like numpy.savez_compressed (default: stored, like savez).
 * @returns the archive as chunks to write in order.
 */
export function encodeNpz(arrays: Record<string, NpyArray>, compress = false): Uint8Array[] {
  return writeZip(
    Object.entries(arrays).map(([key, arr]) => ({ name: `${key}.npy`, chunks: encodeNpy(arr) })),
    compress,
  );
}

/**
 * Writes arrays as an .npz file, atomically. improved-diffusion's image_sample.py writes
 * `arr_0` = samples (N, H, W, C) uint8 and, for class-conditional models, `arr_1` = labels (N,) int64.
 * @param file the destination.
 * @param arrays arrays by key.
 * @param options compress: deflate like numpy.savez_compressed.
 */
export async function writeNpz(file: string, arrays: Record<string, NpyArray>, options: { compress?: boolean } = {}): Promise<void> {
  await writeFileAtomic(file, encodeNpz(arrays, options.compress ?? false));
}
