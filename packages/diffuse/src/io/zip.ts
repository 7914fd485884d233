// Just enough of the zip format for .npz: read stored/deflated entries (zip64 too), write them.
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { crc32 } from './crc32.js';
import { DataError } from './errors.js';

const EOCD_SIG = 0x06054b50;
const EOCD64_LOCATOR_SIG = 0x07064b50;
const EOCD64_SIG = 0x06064b50;
const CENTRAL_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;
const U32_MAX = 0xffffffff;
// DOS date 1980-01-01, time 00:00: fixed so the same arrays always give the same bytes.
const DOS_DATE = (0 << 9) | (1 << 5) | 1;
const DOS_TIME = 0;

/** One file inside a zip archive. */
export interface ZipEntry {
  name: string;
  /** The uncompressed bytes. */
  data: Uint8Array;
}

function u64(view: DataView, at: number): number {
  return Number(view.getBigUint64(at, true));
}

function findEocd(view: DataView, file: string): number {
  const stop = Math.max(0, view.byteLength - 22 - 0xffff);
  for (let at = view.byteLength - 22; at >= stop; at--) {
    if (view.getUint32(at, true) === EOCD_SIG) return at;
  }
  throw new DataError(`${file}: not a zip/npz archive (no end-of-central-directory record); the file is truncated or not an .npz`, file);
}

/**
 * Reads every entry of a zip archive held in memory. Stored entries share `bytes`' memory;
 * deflated ones are inflated. CRC-32s are checked.
 * @param bytes the archive.
 * @param file the archive's name, for error messages.
 * @returns the entries in central-directory order.
 * @throws DataError for a truncated, corrupt, encrypted or unsupported archive.
 */
export function readZip(bytes: Uint8Array, file: string): ZipEntry[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bad = (what: string): DataError => new DataError(`${file}: corrupt zip/npz archive (${what}); re-create the file`, file);
  if (bytes.length < 22) throw bad('too short');
  const eocd = findEocd(view, file);
  let count = view.getUint16(eocd + 10, true);
  let cdOffset = view.getUint32(eocd + 16, true);
  if (count === 0xffff || cdOffset === U32_MAX) {
    const loc = eocd - 20;
    if (loc < 0 || view.getUint32(loc, true) !== EOCD64_LOCATOR_SIG) throw bad('missing zip64 locator');
    const rec = u64(view, loc + 8);
    if (rec + 56 > bytes.length || view.getUint32(rec, true) !== EOCD64_SIG) throw bad('bad zip64 record');
    count = u64(view, rec + 32);
    cdOffset = u64(view, rec + 48);
  }
  const entries: ZipEntry[] = [];
  let at = cdOffset;
  for (let k = 0; k < count; k++) {
    if (at + 46 > bytes.length || view.getUint32(at, true) !== CENTRAL_SIG) throw bad('bad central directory');
    const flags = view.getUint16(at + 8, true);
    const method = view.getUint16(at + 10, true);
    const crc = view.getUint32(at + 16, true);
    let csize = view.getUint32(at + 20, true);
    let usize = view.getUint32(at + 24, true);
    const nameLen = view.getUint16(at + 28, true);
    const extraLen = view.getUint16(at + 30, true);
    const commentLen = view.getUint16(at + 32, true);
    let local = view.getUint32(at + 42, true);
    const name = Buffer.from(bytes.subarray(at + 46, at + 46 + nameLen)).toString('utf8');
    // zip64 extra field: the 64-bit values of whichever fields hold 0xFFFFFFFF, in this order.
    for (let e = at + 46 + nameLen; e + 4 <= at + 46 + nameLen + extraLen; ) {
      const id = view.getUint16(e, true);
      const len = view.getUint16(e + 2, true);
      if (id === 0x0001) {
        let p = e + 4;
        if (usize === U32_MAX) (usize = u64(view, p)), (p += 8);
        if (csize === U32_MAX) (csize = u64(view, p)), (p += 8);
        if (local === U32_MAX) local = u64(view, p);
      }
      e += 4 + len;
    }
    at += 46 + nameLen + extraLen + commentLen;
    if (flags & 1) throw new DataError(`${file}: entry ${name} is encrypted; npz files are never encrypted`, file);
    if (local + 30 > bytes.length || view.getUint32(local, true) !== LOCAL_SIG) throw bad(`bad local header for ${name}`);
    const start = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
    if (start + csize > bytes.length) throw bad(`${name} runs past the end of the file`);
    const raw = bytes.subarray(start, start + csize);
    let data: Uint8Array;
    if (method === 0) data = raw;
    else if (method === 8) {
      try {
        data = inflateRawSync(raw);
      } catch (err) {
        throw bad(`${name}: ${(err as Error).message}`);
      }
    } else throw new DataError(`${file}: entry ${name} uses zip method ${method}; only stored and deflate (numpy.savez / savez_compressed) are supported`, file);
    if (data.length !== usize) throw bad(`${name} inflates to ${data.length} bytes, expected ${usize}`);
    if (crc32(data) !== crc) throw bad(`CRC mismatch in ${name}`);
    entries.push({ name, data });
  }
  return entries;
}

/**
 * Builds a zip archive of the given entries (each entry's data given as chunks).
 * @param entries names and contents; chunks of one entry are concatenated.
 * @param compress deflate the entries (numpy.savez_compressed) instead of storing them (numpy.savez).
 * @returns the archive as a list of chunks to write in order (entry data is not copied when stored).
 */
export function writeZip(entries: { name: string; chunks: Uint8Array[] }[], compress = false): Uint8Array[] {
  const out: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = Buffer.from(entry.name, 'utf8');
    const usize = entry.chunks.reduce((n, c) => n + c.length, 0);
    let crc = 0;
    for (const c of entry.chunks) crc = crc32(c, crc);
    const payload = compress ? [deflateRawSync(Buffer.concat(entry.chunks))] : entry.chunks;
    const csize = payload.reduce((n, c) => n + c.length, 0);
    if (offset + 30 + name.length + csize > U32_MAX) {
      throw new RangeError('writeZip: archives over 4 GiB are not supported; write the samples in several files');
    }
    const method = compress ? 8 : 0;
    const local = new Uint8Array(30 + name.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, LOCAL_SIG, true);
    lv.setUint16(4, 20, true); // version needed: 2.0
    lv.setUint16(8, method, true);
    lv.setUint16(10, DOS_TIME, true);
    lv.setUint16(12, DOS_DATE, true);
    lv.setUint32(14, crc, true);
    lv.setUint32(18, csize, true);
    lv.setUint32(22, usize, true);
    lv.setUint16(26, name.length, true);
    local.set(name, 30);
    const cd = new Uint8Array(46 + name.length);
    const cv = new DataView(cd.buffer);
    cv.setUint32(0, CENTRAL_SIG, true);
    cv.setUint16(4, (3 << 8) | 20, true); // made by: Unix, 2.0
    cv.setUint16(6, 20, true);
    cv.setUint16(10, method, true);
    cv.setUint16(12, DOS_TIME, true);
    cv.setUint16(14, DOS_DATE, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, csize, true);
    cv.setUint32(24, usize, true);
    cv.setUint16(28, name.length, true);
    cv.setUint32(38, (0o644 << 16) >>> 0, true); // external attributes: -rw-r--r--
    cv.setUint32(42, offset, true);
    cd.set(name, 46);
    out.push(local, ...payload);
    central.push(cd);
    offset += local.length + csize;
  }
  const cdSize = central.reduce((n, c) => n + c.length, 0);
  const eocd = new Uint8Array(22);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, EOCD_SIG, true);
  ev.setUint16(8, entries.length, true);
  ev.setUint16(10, entries.length, true);
  ev.setUint32(12, cdSize, true);
  ev.setUint32(16, offset, true);
  return [...out, ...central, eocd];
}
