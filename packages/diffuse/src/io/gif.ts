// Animated GIF from a sequence of 8-bit frames (e.g. the denoising chain x_T ... x_0).
import gifenc from 'gifenc';
import { writeFileAtomic } from './atomic.js';
import type { RawImage } from './raw-image.js';
import { checkRawImage } from './raw-image.js';

export interface GifOptions {
  /** Milliseconds each frame shows (GIF stores hundredths of a second); default 100. */
  delayMs?: number;
  /** Extra milliseconds on the last frame, so the final image lingers; default 0. */
  lastDelayMs?: number;
  /** Times to play: 0 forever (default), n > 0 that many extra repeats, -1 once. */
  repeat?: number;
}

const GRAY_PALETTE: number[][] = Array.from({ length: 256 }, (_, v) => [v, v, v]);

// Gray frames index straight into a 256-level gray palette (lossless); colour frames are
// quantized to 256 colours each (gifenc's PnnQuant, RGB565 histogram).
function indexFrame(img: RawImage): { index: Uint8Array; palette: number[][] } {
  const { data, width, height, channels } = img;
  const n = width * height;
  if (channels === 1) return { index: data, palette: GRAY_PALETTE };
  if (channels === 2) {
    const index = new Uint8Array(n);
    for (let i = 0; i < n; i++) index[i] = data[2 * i]!;
    return { index, palette: GRAY_PALETTE };
  }
  const rgba = new Uint8Array(n * 4);
  for (let i = 0; i < n; i++) {
    rgba[4 * i] = data[channels * i]!;
    rgba[4 * i + 1] = data[channels * i + 1]!;
    rgba[4 * i + 2] = data[channels * i + 2]!;
    rgba[4 * i + 3] = 255;
  }
  const palette = gifenc.quantize(rgba, 256, { format: 'rgb565' });
  return { index: gifenc.applyPalette(rgba, palette, 'rgb565'), palette };
}

/**
 * Encodes frames as an animated GIF. Alpha, if any, is ignored.
 * @param frames same-sized 8-bit images (1–4 channels, HWC).
 * @param options delay, last-frame delay and repeat count.
 * @returns the GIF file's bytes.
 */
export function encodeGif(frames: RawImage[], options: GifOptions = {}): Uint8Array {
  if (frames.length === 0) throw new RangeError('encodeGif: no frames');
  const { width, height } = frames[0]!;
  const delay = options.delayMs ?? 100;
  const enc = gifenc.GIFEncoder();
  frames.forEach((frame, k) => {
    checkRawImage(frame, 'encodeGif');
    if (frame.width !== width || frame.height !== height) {
      throw new RangeError(`encodeGif: frame ${k} is ${frame.width}×${frame.height}, frame 0 is ${width}×${height}`);
    }
    const { index, palette } = indexFrame(frame);
    const last = k === frames.length - 1;
    enc.writeFrame(index, width, height, {
      palette,
      delay: last ? delay + (options.lastDelayMs ?? 0) : delay,
      repeat: options.repeat ?? 0,
    });
  });
  enc.finish();
  return enc.bytes();
}

/**
 * Encodes frames as an animated GIF and writes it atomically.
 * @param path the destination file.
 * @param frames same-sized 8-bit images (see encodeGif).
 * @param options delay, last-frame delay and repeat count.
 */
export async function writeGif(path: string, frames: RawImage[], options: GifOptions = {}): Promise<void> {
  await writeFileAtomic(path, encodeGif(frames, options));
}
