// Pillow's resampling (libImaging/Resample.c), ported so our resizes match PIL bit for bit:
// separable two-pass convolution (horizontal, then vertical), 8-bit fixed-point coefficients.
import type { RawImage } from '../io/raw-image.js';

/** The resampling filters improved-diffusion uses (PIL's Image.BOX and Image.BICUBIC). */
export enum Filter {
  BOX = 'box',
  BICUBIC = 'bicubic',
}

interface FilterDef {
  fn: (x: number) => number;
  support: number;
}

const FILTERS: Record<Filter, FilterDef> = {
  [Filter.BOX]: { fn: (x) => (x > -0.5 && x <= 0.5 ? 1 : 0), support: 0.5 },
  [Filter.BICUBIC]: {
    // Keys' cubic convolution with a = -0.5, as PIL.
    fn: (x) => {
      const a = -0.5;
      if (x < 0) x = -x;
      if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
      if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
      return 0;
    },
    support: 2,
  },
};

// 8 bits of result plus 2 bits of headroom for negative lobes and sums above 1 (PIL's choice).
const PRECISION_BITS = 32 - 8 - 2;
const ONE = 1 << PRECISION_BITS;
const HALF = 1 << (PRECISION_BITS - 1);

interface Coeffs {
  ksize: number;
  /** Per output pixel: first input index and count. */
  bounds: Int32Array;
  /** Per output pixel: ksize fixed-point weights. */
  kk: Int32Array;
}

// precompute_coeffs + normalize_coeffs_8bpc: for each output pixel, the input span and weights.
function precompute(inSize: number, outSize: number, filter: FilterDef): Coeffs {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = filter.support * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const kk = new Int32Array(outSize * ksize);
  const w = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1 / filterscale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      w[x] = filter.fn((x + xmin - center + 0.5) * ss);
      ww += w[x]!;
    }
    for (let x = 0; x < xmax; x++) {
      const k = ww !== 0 ? w[x]! / ww : w[x]!;
      kk[xx * ksize + x] = k < 0 ? Math.trunc(-0.5 + k * ONE) : Math.trunc(0.5 + k * ONE);
    }
    bounds[2 * xx] = xmin;
    bounds[2 * xx + 1] = xmax;
  }
  return { ksize, bounds, kk };
}

// clip8: the arithmetic shift floors, then PIL's lookup table clamps to 0..255.
function clip8(v: number): number {
  const s = v >> PRECISION_BITS;
  return s < 0 ? 0 : s > 255 ? 255 : s;
}

/**
 * Resizes an 8-bit image exactly as PIL's Image.resize(size, resample) (Pillow ≥ 4, for modes
 * L and RGB; each channel independently).
 * @param img the source, HWC uint8.
 * @param width the output width.
 * @param height the output height.
 * @param filter BOX or BICUBIC.
 * @returns a new image (the source itself is never modified).
 */
export function resample(img: RawImage, width: number, height: number, filter: Filter): RawImage {
  const { data, width: inW, height: inH, channels: c } = img;
  if (width < 1 || height < 1) throw new RangeError(`resample: output size ${width}×${height} must be at least 1×1`);
  if (width === inW && height === inH) return { data: data.slice(), width, height, channels: c };
  const def = FILTERS[filter];
  const vert = precompute(inH, height, def);
  // Only the rows the vertical pass reads need the horizontal pass.
  const yFirst = vert.bounds[0]!;
  const yLast = vert.bounds[2 * height - 2]! + vert.bounds[2 * height - 1]!;
  let src = data;
  let srcW = inW;
  let rowOffset = 0;
  if (width !== inW) {
    const hor = precompute(inW, width, def);
    const rows = yLast - yFirst;
    const tmp = new Uint8Array(rows * width * c);
    for (let yy = 0; yy < rows; yy++) {
      const inRow = (yy + yFirst) * inW * c;
      for (let xx = 0; xx < width; xx++) {
        const xmin = hor.bounds[2 * xx]!;
        const xmax = hor.bounds[2 * xx + 1]!;
        const k0 = xx * hor.ksize;
        for (let ch = 0; ch < c; ch++) {
          let ss = HALF;
          for (let x = 0; x < xmax; x++) ss += data[inRow + (x + xmin) * c + ch]! * hor.kk[k0 + x]!;
          tmp[(yy * width + xx) * c + ch] = clip8(ss);
        }
      }
    }
    src = tmp;
    srcW = width;
    rowOffset = yFirst;
  }
  if (height === inH) return { data: src === data ? data.slice() : src, width, height, channels: c };
  const out = new Uint8Array(height * width * c);
  for (let yy = 0; yy < height; yy++) {
    const ymin = vert.bounds[2 * yy]! - rowOffset;
    const ymax = vert.bounds[2 * yy + 1]!;
    const k0 = yy * vert.ksize;
    for (let i = 0; i < width * c; i++) {
      let ss = HALF;
      for (let y = 0; y < ymax; y++) ss += src[(y + ymin) * srcW * c + i]! * vert.kk[k0 + y]!;
      out[yy * width * c + i] = clip8(ss);
    }
  }
  return { data: out, width, height, channels: c };
}
