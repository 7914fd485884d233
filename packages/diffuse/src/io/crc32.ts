// CRC-32 (IEEE 802.3, as PNG chunks and zip entries use it).
import * as zlib from 'node:zlib';

const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32Js(data: Uint8Array, crc: number): number {
  let c = (crc ^ 0xffffffff) >>> 0;
  for (let i = 0; i < data.length; i++) c = TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// Node ≥ 20.15 has a native CRC-32 (GB/s, which matters for checking large npz files).
const native = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

/**
 * CRC-32 of bytes, optionally continuing a previous value.
 * @param data the bytes.
 * @param crc the CRC of the bytes before these (0 to start).
 * @returns the unsigned 32-bit CRC.
 */
export function crc32(data: Uint8Array, crc = 0): number {
  // Node's native crc32 answers 0 for an empty view of an empty ArrayBuffer, whatever `crc` is.
  if (data.length === 0) return crc >>> 0;
  return native ? native(data, crc) >>> 0 : crc32Js(data, crc);
}
