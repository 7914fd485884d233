// Tiles a batch of images into one grid image, laid out as torchvision.utils.make_grid.
import { checkRawImage, type RawImage } from './raw-image.js';

/** A batch of same-sized 8-bit images: n·height·width·channels bytes (NHWC). */
export interface RawBatch {
  data: Uint8Array;
  n: number;
  height: number;
  width: number;
  channels: number;
}

export interface GridOptions {
  /** Images per row (torchvision's nrow); default 8. */
  nrow?: number;
  /** Pixels of border around and between images; default 2. */
  padding?: number;
  /** Border value 0..255, used for every channel; default 0. */
  padValue?: number;
}

/**
 * Tiles images into a grid as torchvision's make_grid: min(nrow, n) columns, ceil(n / columns)
 * rows, `padding` pixels before every image and after the last row and column; a single image
 * comes back unpadded. Unlike make_grid, gray images stay one channel (the PNG looks the same).
 * @param batch the images, NHWC uint8.
 * @param options nrow, padding, padValue.
 * @returns the grid as one HWC image with the batch's channel count.
 */
export function makeGrid(batch: RawBatch, options: GridOptions = {}): RawImage {
  const { data, n, height: h, width: w, channels: c } = batch;
  const nrow = options.nrow ?? 8;
  const padding = options.padding ?? 2;
  const padValue = options.padValue ?? 0;
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`makeGrid: need at least one image, got n=${n}`);
  if (!Number.isInteger(nrow) || nrow < 1) throw new RangeError(`makeGrid: nrow must be a positive integer, got ${nrow}`);
  if (!Number.isInteger(padding) || padding < 0) throw new RangeError(`makeGrid: padding must be ≥ 0, got ${padding}`);
  const frame = h * w * c;
  if (data.length !== n * frame) throw new RangeError(`makeGrid: ${data.length} bytes for ${n}×${h}×${w}×${c}`);
  if (n === 1) {
    const single = { data: data.slice(), width: w, height: h, channels: c };
    checkRawImage(single, 'makeGrid');
    return single;
  }
  const cols = Math.min(nrow, n);
  const rows = Math.ceil(n / cols);
  const cellH = h + padding;
  const cellW = w + padding;
  const gridH = cellH * rows + padding;
  const gridW = cellW * cols + padding;
  const out = new Uint8Array(gridH * gridW * c).fill(padValue);
  for (let k = 0; k < n; k++) {
    const top = Math.floor(k / cols) * cellH + padding;
    const left = (k % cols) * cellW + padding;
    for (let y = 0; y < h; y++) {
      const src = k * frame + y * w * c;
      out.set(data.subarray(src, src + w * c), ((top + y) * gridW + left) * c);
    }
  }
  return { data: out, width: gridW, height: gridH, channels: c };
}
