// File formats: PNG, GIF, image grids, .npy/.npz, and atomic writes.
export { DataError, firstLine } from './errors.js';
export { writeFileAtomic, writeFileAtomicSync } from './atomic.js';
export { type RawImage, checkRawImage } from './raw-image.js';
export { encodePng, writePng } from './png.js';
export { makeGrid, type RawBatch, type GridOptions } from './grid.js';
export { encodeGif, writeGif, type GifOptions } from './gif.js';
export { encodeNpy, parseNpy, dtypeOf, type NpyArray, type NpyDType, type NpyData } from './npy.js';
export { parseNpz, readNpz, readNpzSync, encodeNpz, writeNpz } from './npz.js';
export { crc32 } from './crc32.js';
