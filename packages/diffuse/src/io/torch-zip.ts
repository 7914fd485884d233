// Reads a PyTorch checkpoint written by torch.save (≥ 1.6: a zip with ARCHIVE/data.pkl and one
// ARCHIVE/data/KEY entry per storage) through the restricted unpickler: only OrderedDict, the
// tensor rebuild functions and the storage types are allowed, so a checkpoint yields tensors and
// containers and nothing else.
import { DataError } from './errors.js';
import { PickleError, unpickle } from './pickle.js';
import { readZip, type ZipEntry } from './zip.js';

/** A tensor of the checkpoint as float32 values (every float and integer storage is converted). */
export interface TorchArray {
  /** The storage's type in the file, e.g. 'Float', 'Half', 'BFloat16', 'Long'. */
  storage: string;
  shape: number[];
  data: Float32Array;
}

/** Elements of each storage type, and how to read them as numbers. */
const STORAGES: Record<string, { bytes: number; read: (v: DataView, at: number) => number }> = {
  Float: { bytes: 4, read: (v, at) => v.getFloat32(at, true) },
  Double: { bytes: 8, read: (v, at) => v.getFloat64(at, true) },
  Half: { bytes: 2, read: (v, at) => halfToFloat(v.getUint16(at, true)) },
  BFloat16: { bytes: 2, read: (v, at) => new Float32Array(new Uint32Array([v.getUint16(at, true) << 16]).buffer)[0]! },
  Long: { bytes: 8, read: (v, at) => Number(v.getBigInt64(at, true)) },
  Int: { bytes: 4, read: (v, at) => v.getInt32(at, true) },
  Short: { bytes: 2, read: (v, at) => v.getInt16(at, true) },
  Char: { bytes: 1, read: (v, at) => v.getInt8(at) },
  Byte: { bytes: 1, read: (v, at) => v.getUint8(at) },
  Bool: { bytes: 1, read: (v, at) => v.getUint8(at) },
};

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac === 0 ? sign * Infinity : NaN;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

/** A storage type named by the pickle (torch.FloatStorage …). */
class StorageType {
  constructor(readonly kind: string) {}
}

/** A storage loaded from its zip entry. */
class Storage {
  constructor(readonly kind: string, readonly view: DataView) {}
}

/**
 * Reads the state dict of a torch.save zip checkpoint.
 * @param bytes the file's contents; @param file its name, for messages.
 * @returns parameter name → float32 tensor, in the file's order (a top-level dict of tensors; a
 *   dict holding one under 'state_dict' or 'model' is unwrapped).
 * @throws PickleError for a refused or malformed pickle, DataError for a file that is no
 *   torch.save zip.
 */
export function readTorchStateDict(bytes: Uint8Array, file: string): Map<string, TorchArray> {
  let entries: ZipEntry[];
  try {
    entries = readZip(bytes, file);
  } catch {
    throw new DataError(`${file}: not a PyTorch zip checkpoint (torch.save from PyTorch ≥ 1.6); re-save it with torch.save(model.state_dict(), path) in a recent PyTorch`, file);
  }
  const pkl = entries.find((e) => e.name.endsWith('/data.pkl') || e.name === 'data.pkl');
  if (pkl === undefined) throw new DataError(`${file}: a zip without data.pkl, not a torch.save checkpoint`, file);
  const prefix = pkl.name.slice(0, pkl.name.length - 'data.pkl'.length);
  const byName = new Map(entries.map((e) => [e.name, e.data]));

  const storageTypes = new Map(Object.keys(STORAGES).map((k) => [`${k}Storage`, new StorageType(k)]));
  const value = unpickle(pkl.data, file, {
    findGlobal(module, name) {
      if (module === 'collections' && name === 'OrderedDict') return () => new Map();
      if (module === 'torch._utils' && name === '_rebuild_tensor_v2') return rebuildTensor;
      if (module === 'torch._utils' && name === '_rebuild_parameter') return (data: unknown) => data;
      if (module === 'torch' && storageTypes.has(name)) return storageTypes.get(name);
      return undefined;
    },
    persistentLoad(pid) {
      // ('storage', storage type, key, location, numel)
      if (!Array.isArray(pid) || pid[0] !== 'storage' || !(pid[1] instanceof StorageType)) throw new PickleError(`${file}: refused: a persistent id that is not a tensor storage`, file);
      const data = byName.get(`${prefix}data/${String(pid[2])}`);
      if (data === undefined) throw new DataError(`${file}: storage ${String(pid[2])} is missing from the archive; the file is damaged`, file);
      return new Storage(pid[1].kind, new DataView(data.buffer, data.byteOffset, data.byteLength));
    },
  });

  function rebuildTensor(storage: unknown, offset: unknown, size: unknown, stride: unknown): TorchArray {
    if (!(storage instanceof Storage) || typeof offset !== 'number' || !Array.isArray(size) || !Array.isArray(stride)) {
      throw new PickleError(`${file}: malformed tensor record`, file);
    }
    const kind = STORAGES[storage.kind]!;
    const shape = size.map(Number);
    const strides = stride.map(Number);
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    const index = new Array<number>(shape.length).fill(0);
    for (let i = 0; i < n; i++) {
      let at = offset;
      for (let d = 0; d < shape.length; d++) at += index[d]! * strides[d]!;
      if ((at + 1) * kind.bytes > storage.view.byteLength) throw new DataError(`${file}: a tensor runs past its storage; the file is damaged`, file);
      data[i] = kind.read(storage.view, at * kind.bytes);
      for (let d = shape.length - 1; d >= 0; d--) {
        if (++index[d]! < shape[d]!) break;
        index[d] = 0;
      }
    }
    return { storage: storage.kind, shape, data };
  }

  let dict = value;
  if (dict instanceof Map && !isTensorDict(dict)) dict = dict.get('state_dict') ?? dict.get('model') ?? dict;
  if (!(dict instanceof Map) || !isTensorDict(dict)) throw new DataError(`${file}: holds no state dict (a dict of parameter name → tensor)`, file);
  return dict as Map<string, TorchArray>;
}

function isTensorDict(d: Map<unknown, unknown>): boolean {
  return d.size > 0 && [...d].every(([k, v]) => typeof k === 'string' && typeof v === 'object' && v !== null && 'data' in v && 'shape' in v);
}
