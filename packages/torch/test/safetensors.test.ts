// safetensors IO against files written by a writer that follows the Rust library's rules
// (test/golden/safetensors_gen.py), the library's own unit-test byte vectors, and corrupt files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as torch from '../src/index.js';

const GOLDEN = fileURLToPath(new URL('../../test/golden/', import.meta.url));
const ST_DTYPE: Record<string, torch.DType> = {
  F64: 'float64', F32: 'float32', F16: 'float16', BF16: 'bfloat16', I64: 'int64',
  I32: 'int32', I16: 'int16', I8: 'int8', U8: 'uint8', BOOL: 'bool',
};

type Value = number | boolean | 'inf' | '-inf' | 'nan';
interface GoldenTensor { dtype: string; shape: number[]; values: Value[] }
interface GoldenFile { metadata: Record<string, string> | null; tensors: Record<string, GoldenTensor> }
const golden = JSON.parse(fs.readFileSync(path.join(GOLDEN, 'safetensors_golden.json'), 'utf8')) as { files: Record<string, GoldenFile> };

function numberOf(v: Value): number {
  if (v === 'inf') return Infinity;
  if (v === '-inf') return -Infinity;
  if (v === 'nan') return NaN;
  return Number(v);
}

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'st-test-'));
}

/** A tensor built from the golden description (independent of our reader). */
function fromGolden(g: GoldenTensor): torch.Tensor {
  const dtype = ST_DTYPE[g.dtype]!;
  if (dtype === 'int64') return torch.tensor(BigInt64Array.from(g.values, (v) => BigInt(v as number)), { shape: g.shape });
  return torch.tensor(g.values.map(numberOf), { dtype, shape: g.shape });
}

test('loads every dtype, metadata, a 0-d and an empty tensor exactly', () => {
  for (const [name, g] of Object.entries(golden.files)) {
    torch.tidy(() => {
      const { tensors, metadata } = torch.loadSafetensors(path.join(GOLDEN, name));
      assert.deepEqual(metadata, g.metadata, name);
      assert.deepEqual(Object.keys(tensors).sort(), Object.keys(g.tensors).sort(), name);
      for (const [key, want] of Object.entries(g.tensors)) {
        const t = tensors[key]!;
        assert.equal(t.dtype, ST_DTYPE[want.dtype], key);
        assert.deepEqual(t.shape, want.shape, key);
        const got = t.data();
        assert.equal(got.length, want.values.length, key);
        want.values.forEach((v, i) => {
          if (got instanceof BigInt64Array) assert.equal(got[i], BigInt(v as number), `${key}[${i}]`);
          else assert.ok(Object.is(got[i], numberOf(v)), `${key}[${i}]: ${got[i]} != ${v}`);
        });
      }
    });
  }
  const scalar = torch.tidy(() => torch.loadSafetensors(path.join(GOLDEN, 'all_dtypes.safetensors')).tensors.scalar!.keep());
  assert.equal(scalar.ndim, 0);
  assert.equal(scalar.item(), 2.75);
  scalar.dispose();
});

test('loaded tensors come in data order, and the header parses from a buffer', () => {
  const file = path.join(GOLDEN, 'all_dtypes.safetensors');
  const header = torch.parseSafetensorsHeader(fs.readFileSync(file));
  const order = header.entries.map((e) => e.name);
  // Largest alignment first (I64 > F64 > F32 > I32 > BF16 > F16 > I16 > I8 > U8 > BOOL), then by name.
  assert.deepEqual(order, ['A.long', 'z.f64', 'empty', 'layer.10.weight', 'layer.2.weight', 'scalar', 'int32', 'bf16', 'half', 'int16', 'int8', 'odd', 'uint8', 'mask']);
  assert.equal(header.dataOffset, 8 + header.headerLength);
  assert.equal(header.headerLength % 8, 0);
  assert.deepEqual(torch.readSafetensorsHeader(file), header);
  torch.tidy(() => assert.deepEqual(Object.keys(torch.loadSafetensors(file).tensors), order));
});

test('our writer produces the golden files byte for byte', () => {
  const dir = tmpDir();
  try {
    for (const [name, g] of Object.entries(golden.files)) {
      torch.tidy(() => {
        // Insert in reverse order, metadata keys too: the output must not depend on it.
        const tensors: Record<string, torch.Tensor> = {};
        for (const key of Object.keys(g.tensors).reverse()) tensors[key] = fromGolden(g.tensors[key]!);
        const metadata = g.metadata === null ? undefined : Object.fromEntries(Object.entries(g.metadata).reverse());
        const out = path.join(dir, name);
        torch.saveSafetensors(out, tensors, metadata);
        assert.ok(fs.readFileSync(out).equals(fs.readFileSync(path.join(GOLDEN, name))), `${name} differs`);
        // And load -> save reproduces the file as well.
        const loaded = torch.loadSafetensors(path.join(GOLDEN, name));
        torch.saveSafetensors(out, loaded.tensors, loaded.metadata);
        assert.ok(fs.readFileSync(out).equals(fs.readFileSync(path.join(GOLDEN, name))), `${name} round trip differs`);
      });
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("matches the byte vectors of huggingface/safetensors' own unit tests", () => {
  const dir = tmpDir();
  const f32 = (xs: number[]): Buffer => Buffer.from(new Float32Array(xs).buffer);
  const u64 = (n: number): Buffer => Buffer.from(new BigUint64Array([BigInt(n)]).buffer);
  const cases: [string, Record<string, number[]>, Record<string, string> | undefined, Buffer][] = [
    // test_serialization: a 64-byte header needs no padding.
    ['serialization', { 'attn.0': [1, 2, 3] }, undefined,
      Buffer.concat([u64(64), Buffer.from('{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}'), f32([0, 1, 2, 3, 4, 5])])],
    // test_serialization_forced_alignement: 65 bytes of JSON padded with 7 spaces.
    ['forced_alignment', { attn0: [1, 1, 2, 3] }, undefined,
      Buffer.concat([u64(72), Buffer.from('{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}       '), f32([0, 1, 2, 3, 4, 5])])],
    // test_empty, without and with metadata.
    ['empty', {}, undefined, Buffer.from([8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32])],
    ['empty_metadata', {}, { framework: 'pt' },
      Buffer.concat([u64(40), Buffer.from('{"__metadata__":{"framework":"pt"}}     ')])],
  ];
  try {
    for (const [name, shapes, metadata, want] of cases) {
      torch.tidy(() => {
        const tensors: Record<string, torch.Tensor> = {};
        for (const [k, shape] of Object.entries(shapes)) tensors[k] = torch.arange(6).reshape(shape);
        const out = path.join(dir, `${name}.safetensors`);
        torch.saveSafetensors(out, tensors, metadata);
        assert.deepEqual([...fs.readFileSync(out)], [...want], name);
        assert.deepEqual(torch.loadSafetensors(out).metadata, metadata ?? null);
      });
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('writes non-contiguous tensors contiguously and atomically, leaving no temp files', () => {
  const dir = tmpDir();
  try {
    const out = path.join(dir, 'model.safetensors');
    fs.writeFileSync(out, 'old contents');
    torch.tidy(() => {
      const x = torch.arange(12).reshape([3, 4]).transpose(0, 1); // (4, 3), not contiguous
      torch.saveSafetensors(out, { x });
      const y = torch.loadSafetensors(out).tensors.x!;
      assert.ok(y.equal(x));
      assert.throws(() => torch.saveSafetensors(out, { x }, { bad: 3 as unknown as string }), /not a string/);
      assert.throws(() => torch.saveSafetensors(out, { __metadata__: x }), /cannot name a tensor/);
      assert.throws(() => torch.saveSafetensors(path.join(dir, 'missing', 'a.safetensors'), { x }), /ENOENT/);
      assert.ok(torch.loadSafetensors(out).tensors.x!.equal(x), 'a failed save must leave the old file');
    });
    assert.deepEqual(fs.readdirSync(dir), ['model.safetensors']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** A file from a header (object or raw text) and a data section of dataBytes bytes. */
function rawFile(header: object | string, dataBytes: number): Buffer {
  const text = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(text.length));
  return Buffer.concat([len, text, Buffer.alloc(dataBytes, 7)]);
}

test('rejects corrupt files with a one-line error that names the file', () => {
  const dir = tmpDir();
  const good = fs.readFileSync(path.join(GOLDEN, 'no_metadata.safetensors'));
  const n = Number(good.readBigUInt64LE(0));
  const edit = (from: string, to: string): Buffer => {
    assert.equal(from.length, to.length);
    const b = Buffer.from(good);
    const at = b.indexOf(from, 8);
    assert.ok(at > 0 && at < 8 + n, from);
    b.write(to, at);
    return b;
  };
  const withLength = (len: bigint): Buffer => {
    const b = Buffer.from(good);
    b.writeBigUInt64LE(len);
    return b;
  };
  const f32 = (begin: number, end: number) => ({ dtype: 'F32', shape: [(end - begin) / 4], data_offsets: [begin, end] });
  const cases: [string, Buffer, RegExp][] = [
    ['truncated', good.subarray(0, good.length - 1), /truncated.*need 96 bytes, the file has 95/],
    ['tiny', good.subarray(0, 5), /5 bytes, fewer than the 8-byte header length/],
    ['huge_header_length', withLength(1n << 40n), /exceeds the 100000000-byte limit/],
    ['header_past_end', withLength(1000n), /header length 1000 runs past the end of the file \(96 bytes\)/],
    ['garbage', Buffer.from('this is not a safetensors file, only some text that goes on'), /exceeds|runs past/],
    ['bad_json', edit('}}', '}x'), /header is not valid JSON/],
    ['not_utf8', (() => { const b = edit('weight', 'weigh_'); b[b.indexOf('weigh_', 8) + 5] = 0xff; return b; })(), /not valid UTF-8/],
    ['unknown_dtype', edit('"F32"', '"F31"'), /tensor "weight" has unknown dtype "F31"/],
    ['shape_mismatch', edit('[2,3]', '[3,3]'), /shape \[3,3\] of F32 \(36 bytes\) but data_offsets \[0, 24\] span 24 bytes/],
    ['trailing', Buffer.concat([good, Buffer.from([1, 2, 3])]), /3 bytes after the last tensor/],
    ['not_object', rawFile('[1,2]', 0), /not a JSON object/],
    ['entry_not_object', rawFile({ a: 3 }, 0), /tensor "a" is not an object/],
    ['bad_shape', rawFile({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, 4), /invalid shape/],
    ['bad_offsets', rawFile({ a: { dtype: 'F32', shape: [1], data_offsets: [4] } }, 4), /invalid data_offsets/],
    ['reversed_offsets', rawFile({ a: { dtype: 'U8', shape: [0], data_offsets: [4, 0] } }, 4), /end before they begin/],
    ['overlap', rawFile({ a: f32(0, 8), b: f32(4, 12) }, 12), /tensor "b" at bytes \[4, 12\] overlaps the previous tensor/],
    ['gap', rawFile({ a: f32(0, 4), b: f32(8, 12) }, 12), /4 bytes before tensor "b" belong to no tensor/],
    ['not_at_zero', rawFile({ a: f32(4, 8) }, 8), /4 bytes before tensor "a"/],
    ['metadata_not_string', rawFile({ __metadata__: { k: 1 } }, 0), /__metadata__ value for "k" is not a string/],
    ['metadata_not_object', rawFile({ __metadata__: 'x' }, 0), /__metadata__ is not an object/],
    ['unsupported_dtype', rawFile({ a: { dtype: 'U16', shape: [2], data_offsets: [0, 4] } }, 4), /tensor "a" has dtype U16, which libtorch cannot hold/],
  ];
  try {
    const before = torch.memory().tensors;
    for (const [name, bytes, why] of cases) {
      const file = path.join(dir, `${name}.safetensors`);
      fs.writeFileSync(file, bytes);
      assert.throws(
        () => torch.loadSafetensors(file),
        (e: unknown) => {
          assert.ok(e instanceof Error, name);
          assert.ok(!e.message.includes('\n'), `${name}: message has several lines: ${e.message}`);
          assert.ok(e.message.includes(file), `${name}: message does not name the file: ${e.message}`);
          assert.match(e.message, why, name);
          return true;
        },
        name,
      );
    }
    assert.equal(torch.memory().tensors, before, 'a failed load must not leak tensors');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
