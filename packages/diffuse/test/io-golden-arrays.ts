// The arrays of the npz goldens, by formula; test/golden/io_npz.py builds the same ones with
// numpy. Used by the generator step test/golden/io_ours.mjs and by io-npz.test.ts.
import type { NpyArray } from '../src/io/npy.js';

/** uint8, int64, float32, float64, int32 and 0-d arrays, each defined by a formula. */
export function goldenArrays(): Record<string, NpyArray> {
  const u8 = new Uint8Array(3 * 5 * 4 * 3);
  for (let i = 0; i < u8.length; i++) u8[i] = (i * 37 + 11) % 256;
  const f32 = new Float32Array(12);
  for (let i = 0; i < 12; i++) f32[i] = i * 0.37 - 1.5;
  const f64 = new Float64Array(6);
  for (let i = 0; i < 6; i++) f64[i] = i / 7;
  return {
    arr_0: { dtype: 'uint8', shape: [3, 5, 4, 3], data: u8 },
    arr_1: { dtype: 'int64', shape: [3], data: BigInt64Array.of(2n, 0n, 7n) },
    f32: { dtype: 'float32', shape: [3, 4], data: f32 },
    f64: { dtype: 'float64', shape: [2, 3], data: f64 },
    i32: { dtype: 'int32', shape: [4], data: Int32Array.of(-3, 0, 2147483647, -2147483648) },
    i64: { dtype: 'int64', shape: [3], data: BigInt64Array.of(-5n, 1099511627776n, 7n) },
    scalar: { dtype: 'float64', shape: [], data: Float64Array.of(2.5) },
  };
}
