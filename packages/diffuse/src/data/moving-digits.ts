// "Moving digits": clips of bundled digits drifting on a larger canvas and bouncing off its edges
// (Srivastava et al. 2015's Moving MNIST), made at run time: clip i is a pure function of
// (seed, i), so any worker, epoch or resumed run sees the same clip.
import type { ImageDataset, Sample } from './dataset.js';
import { loadMnistDigits, MNIST_SIZE } from './mnist.js';
import { hash32, mulberry32 } from './shuffle.js';
import { centerResize } from './transforms.js';

/** The `--data` name of this dataset. */
export const MOVING_DIGITS = 'moving-digits';

/** Defaults: 8 frames of a 32×32 canvas, one digit at half size (14×14), 10,000 clips. */
export const MOVING_DIGITS_DEFAULTS = { frames: 8, size: 32, digits: 1, digitSize: 14, length: 10000, maxSpeed: 3 } as const;

export interface MovingDigitsOptions {
  /** Frames T per clip (default 8). */
  frames?: number;
  /** Canvas side (default 32). */
  size?: number;
  /** Digits per clip (default 1); with one digit the clip's label is its class. */
  digits?: number;
  /** Side each 28×28 digit is resized to (improved-diffusion's resize), at most the canvas (default 14). */
  digitSize?: number;
  /** Clips in the dataset (default 10,000; they are made on demand, not stored). */
  length?: number;
  /** Largest speed per axis in pixels per frame (default 3); speeds are whole pixels. */
  maxSpeed?: number;
  /** Channels out: 1 (default) or 3 (gray copied). */
  channels?: number;
  /** Seed of the clips (default 0); independent of the loader's shuffle. */
  seed?: number;
}

/** One digit's motion: its bundled index, top-left corner per frame and the velocity it started with. */
export interface DigitTrack {
  /** Index into the bundled digits. */
  digit: number;
  /** Top-left x per frame (T,). */
  x: number[];
  /** Top-left y per frame (T,). */
  y: number[];
  /** The first frame's velocity (pixels per frame). */
  vx: number;
  vy: number;
}

/**
 * One step of a bouncing coordinate in [0, room]: p + v, reflected off an edge it would cross
 * (the velocity then flips), as a ball on a billiard table. |v| ≤ room keeps one reflection enough.
 * @returns the new position and velocity.
 */
export function bounce(p: number, v: number, room: number): { p: number; v: number } {
  const q = p + v;
  if (q < 0) return { p: -q, v: -v };
  if (q > room) return { p: 2 * room - q, v: -v };
  return { p: q, v };
}

/**
 * The tracks of clip `index`: for each digit a random bundled digit, a start corner uniform over
 * the canvas and a velocity with whole-pixel components in [−maxSpeed, maxSpeed], not both zero.
 * @param index the clip; @param o the resolved options.
 * @returns one track per digit.
 */
export function movingDigitTracks(index: number, o: Required<MovingDigitsOptions>): DigitTrack[] {
  const rand = mulberry32(hash32(o.seed, index, 0x6d6f7665));
  const count = loadMnistDigits().count;
  const room = o.size - o.digitSize;
  const int = (lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1));
  const tracks: DigitTrack[] = [];
  for (let k = 0; k < o.digits; k++) {
    const digit = int(0, count - 1);
    let vx = 0;
    let vy = 0;
    while (vx === 0 && vy === 0) [vx, vy] = [int(-o.maxSpeed, o.maxSpeed), int(-o.maxSpeed, o.maxSpeed)];
    const t: DigitTrack = { digit, x: [int(0, room)], y: [int(0, room)], vx, vy };
    let [ux, uy] = [vx, vy];
    for (let f = 1; f < o.frames; f++) {
      const bx = bounce(t.x[f - 1]!, ux, room);
      const by = bounce(t.y[f - 1]!, uy, room);
      t.x.push(bx.p);
      t.y.push(by.p);
      [ux, uy] = [bx.v, by.v];
    }
    tracks.push(t);
  }
  return tracks;
}

/**
 * Clips (C, T, H, W) in [-1, 1] of digits moving on a black canvas; overlapping digits combine by
 * the brighter pixel (max), so ink never exceeds white. Clip i is the same for every caller.
 */
export class MovingDigitsDataset implements ImageDataset {
  readonly length: number;
  readonly numClasses: number;
  readonly channels: number;
  readonly size: number;
  /** Frames per clip: each sample's image is C·T·H·W values. */
  readonly frames: number;
  readonly options: Required<MovingDigitsOptions>;
  /** Resized digits by bundled index (made on first use). */
  private readonly glyphs = new Map<number, Uint8Array>();

  /** @param options frames, canvas, digits per clip, digit size, length, speed, channels, seed. */
  constructor(options: MovingDigitsOptions = {}) {
    const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
    const o: Required<MovingDigitsOptions> = { ...MOVING_DIGITS_DEFAULTS, channels: 1, seed: 0, ...given };
    for (const k of ['frames', 'size', 'digits', 'digitSize', 'length', 'maxSpeed'] as const) {
      if (!Number.isInteger(o[k]) || o[k] < 1) throw new RangeError(`moving digits: ${k} must be a positive integer, got ${o[k]}`);
    }
    // A digit needs room to move: at least maxSpeed pixels (one reflection per step then suffices).
    if (o.size - o.digitSize < o.maxSpeed) throw new RangeError(`moving digits: ${o.digitSize}×${o.digitSize} digits moving up to ${o.maxSpeed} px a frame need a canvas of at least ${o.digitSize + o.maxSpeed}, got ${o.size}; raise --image-size`);
    if (o.channels !== 1 && o.channels !== 3) throw new RangeError(`moving digits: channels must be 1 or 3, got ${o.channels}`);
    this.options = o;
    this.length = o.length;
    this.frames = o.frames;
    this.size = o.size;
    this.channels = o.channels;
    this.numClasses = o.digits === 1 ? 10 : 0;
  }

  private glyph(i: number): Uint8Array {
    let g = this.glyphs.get(i);
    if (g === undefined) {
      const px = MNIST_SIZE * MNIST_SIZE;
      const img = { data: loadMnistDigits().images.subarray(i * px, (i + 1) * px), width: MNIST_SIZE, height: MNIST_SIZE, channels: 1 };
      g = this.options.digitSize === MNIST_SIZE ? img.data : centerResize(img, this.options.digitSize).data;
      this.glyphs.set(i, g);
    }
    return g;
  }

  /**
   * The clip as bytes (T, H, W), 0 background to 255 ink (tests and writers use it).
   * @param i clip index in [0, length).
   */
  frameBytes(i: number): Uint8Array {
    return this.render(this.tracks(i));
  }

  /** Clip i's tracks, after checking i. */
  private tracks(i: number): DigitTrack[] {
    if (!(Number.isInteger(i) && i >= 0 && i < this.length)) throw new RangeError(`moving digits: index ${i} out of range [0, ${this.length})`);
    return movingDigitTracks(i, this.options);
  }

  /** The clip of these tracks as bytes (T, H, W). */
  private render(tracks: readonly DigitTrack[]): Uint8Array {
    const { size, digitSize: d, frames } = this.options;
    const out = new Uint8Array(frames * size * size); // (T, H, W)
    for (const t of tracks) {
      const g = this.glyph(t.digit);
      for (let f = 0; f < frames; f++) {
        const base = f * size * size + t.y[f]! * size + t.x[f]!;
        for (let r = 0; r < d; r++) {
          for (let c = 0; c < d; c++) out[base + r * size + c] = Math.max(out[base + r * size + c]!, g[r * d + c]!);
        }
      }
    }
    return out;
  }

  /** @returns clip i as C·T·H·W floats in [-1, 1] and its digit's class (one digit), else -1. */
  get(i: number): Sample {
    const tracks = this.tracks(i);
    const bytes = this.render(tracks);
    const n = bytes.length;
    const image = new Float32Array(this.channels * n); // (C, T, H, W)
    for (let k = 0; k < n; k++) image[k] = bytes[k]! / 127.5 - 1;
    for (let c = 1; c < this.channels; c++) image.copyWithin(c * n, 0, n);
    const label = this.numClasses > 0 ? loadMnistDigits().labels[tracks[0]!.digit]! : -1;
    return { image, label };
  }
}
