// .npy/.npz against files numpy wrote (test/golden/io_npz.py) and files numpy read back.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { encodeNpy, parseNpy, type NpyArray } from '../src/io/npy.js';
import { encodeNpz, parseNpz, readNpz, readNpzSync, writeNpz } from '../src/io/npz.js';
import { readZip } from '../src/io/zip.js';
import { goldenArrays } from './io-golden-arrays.js';
import { assertDataError, golden, tempDir } from './io-helpers.js';

interface NpzGolden {
  npy_sha256: Record<string, string>;
  big_endian: number[][];
  ours: Record<string, { sha256: string; numpy_reads_same_arrays: boolean }>;
}
const G = JSON.parse(readFileSync(golden('io_npz.json'), 'utf8')) as NpzGolden;
const sha = (chunks: Uint8Array[]): string => {
  const h = createHash('sha256');
  for (const c of chunks) h.update(c);
  return h.digest('hex');
};

function assertSameArray(got: NpyArray | undefined, want: NpyArray, what: string): void {
  assert.ok(got, `${what} missing`);
  assert.equal(got.dtype, want.dtype, `${what} dtype`);
  assert.deepEqual(got.shape, want.shape, `${what} shape`);
  assert.deepEqual(Array.from(got.data as ArrayLike<number | bigint>), Array.from(want.data as ArrayLike<number | bigint>), `${what} data`);
}

test('reads numpy.savez (stored, zip64 local headers) exactly', () => {
  const want = goldenArrays();
  const z = readNpzSync(golden('io_savez.npz'));
  assert.deepEqual([...z.keys()], ['arr_0', 'arr_1']);
  assertSameArray(z.get('arr_0'), want.arr_0!, 'arr_0');
  assertSameArray(z.get('arr_1'), want.arr_1!, 'arr_1');
});

test('reads numpy.savez_compressed (deflate), all dtypes, big-endian too', async () => {
  const want = goldenArrays();
  const z = await readNpz(golden('io_savez_compressed.npz'));
  for (const k of ['f32', 'f64', 'i32', 'i64']) assertSameArray(z.get(k), want[k]!, k);
  const be = z.get('be')!;
  assert.equal(be.dtype, 'float32');
  assert.deepEqual(be.shape, [2, 2]);
  assert.deepEqual(Array.from(be.data as Float32Array), G.big_endian.flat());
});

test('encodeNpy gives numpy.save\'s exact bytes for every dtype and a 0-d array', () => {
  for (const [key, arr] of Object.entries(goldenArrays())) {
    assert.equal(sha(encodeNpy(arr)), G.npy_sha256[key], key);
  }
});

test('the .npy entries inside numpy\'s savez file equal ours byte for byte', () => {
  const entries = readZip(readFileSync(golden('io_savez.npz')), 'io_savez.npz');
  const want = goldenArrays();
  assert.deepEqual(entries.map((e) => e.name), ['arr_0.npy', 'arr_1.npy']);
  for (const e of entries) {
    const ours = Buffer.concat(encodeNpy(want[e.name.slice(0, -4)]!));
    assert.ok(Buffer.from(e.data).equals(ours), e.name);
  }
});

test('our npz bytes are the ones numpy verified (stored), and compressed ones round-trip', () => {
  const arrays = goldenArrays();
  const stored = encodeNpz(arrays);
  assert.equal(G.ours['io_ours.npz']!.numpy_reads_same_arrays, true);
  assert.equal(sha(stored), G.ours['io_ours.npz']!.sha256);
  assert.ok(Buffer.concat(stored).equals(readFileSync(golden('io_ours.npz'))));
  // Deflate output may differ between zlib versions, so compare the arrays, not the bytes.
  assert.equal(G.ours['io_ours_compressed.npz']!.numpy_reads_same_arrays, true);
  for (const bytes of [Buffer.concat(encodeNpz(arrays, true)), readFileSync(golden('io_ours_compressed.npz'))]) {
    const z = parseNpz(bytes, 'mem.npz');
    for (const [k, a] of Object.entries(arrays)) assertSameArray(z.get(k), a, k);
  }
});

test('writeNpz writes atomically and reads back', async () => {
  const { dir, cleanup } = tempDir('npz');
  try {
    const file = join(dir, 'samples.npz');
    const arrays = goldenArrays();
    await writeNpz(file, { arr_0: arrays.arr_0!, arr_1: arrays.arr_1! });
    await writeNpz(file, { arr_0: arrays.arr_0!, arr_1: arrays.arr_1! }, { compress: true }); // overwrite
    const z = await readNpz(file);
    assertSameArray(z.get('arr_0'), arrays.arr_0!, 'arr_0');
    assert.deepEqual(readdirSync(dir), ['samples.npz'], 'no temp files left');
  } finally {
    cleanup();
  }
});

test('bad npz files give one-line DataErrors naming the file', async () => {
  const { dir, cleanup } = tempDir('npzbad');
  try {
    const good = readFileSync(golden('io_savez.npz'));
    const put = (name: string, bytes: Uint8Array): string => {
      const p = join(dir, name);
      writeFileSync(p, bytes);
      return p;
    };
    const truncated = put('truncated.npz', good.subarray(0, good.length - 30));
    await assertDataError(() => readNpzSync(truncated), /truncated\.npz: not a zip\/npz archive/);
    const text = put('text.npz', Buffer.from('hello, this is not a zip file at all'));
    await assertDataError(() => readNpzSync(text), /text\.npz: not a zip/);
    await assertDataError(() => readNpz(join(dir, 'missing.npz')), /missing\.npz: no such file/);
    // A flipped data byte: the CRC catches it.
    const flipped = Buffer.from(good);
    flipped[200] ^= 0xff;
    await assertDataError(() => readNpzSync(put('flipped.npz', flipped)), /flipped\.npz: corrupt .*CRC mismatch in arr_0\.npy/);
    // An npy of an unsupported dtype (float16) and a Fortran-order one.
    const [hdr, body] = encodeNpy({ dtype: 'uint8', shape: [2], data: Uint8Array.of(1, 2) });
    const edit = (from: string, to: string): Uint8Array => Buffer.concat([Buffer.from(Buffer.from(hdr).toString('latin1').replace(from, to), 'latin1'), body]);
    await assertDataError(() => parseNpy(edit("'|u1'", "'<f2'"), 'half.npz: arr_0.npy'), /half\.npz: arr_0\.npy: dtype '<f2' is not supported/);
    await assertDataError(() => parseNpy(edit('False', 'True '), 'f.npz: arr_0.npy'), /Fortran-order/);
    await assertDataError(() => parseNpy(Buffer.concat([hdr, body.subarray(0, 1)]), 't.npz: arr_0.npy'), /needs 2 data bytes but the file has 1/);
  } finally {
    cleanup();
  }
});
