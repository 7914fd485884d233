// Control maps for ControlNet, computed from images in diffuse itself: Canny edges (the paper's
// main condition), "scribbles" (the edges dilated to thick strokes, like a user's drawing) and a
// low-resolution copy (a super-resolution-style condition).
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';

import { canny } from './canny.js';

export const CONTROL_KINDS = ['canny', 'scribble', 'lowres'] as const;
export type ControlKind = (typeof CONTROL_KINDS)[number];

export interface ControlMapOptions {
  /** Canny thresholds (default 100 and 200, as ControlNet's annotator). */
  low?: number;
  high?: number;
  /** lowres: the downsampling factor (default 4). */
  factor?: number;
}

/** Channels of a control map for images with `channels` channels (edge maps are gray). */
export function controlChannels(kind: ControlKind, channels: number): number {
  return kind === 'lowres' ? channels : 1;
}

/**
 * The control map of a batch.
 * @param kind canny, scribble or lowres.
 * @param x images (B, C, H, W) in [−1, 1].
 * @param o thresholds, factor.
 * @returns (B, 1, H, W) edge maps in {−1, 1} (1 on edges), or (B, C, H, W) for lowres; no gradient.
 */
export function controlMap(kind: ControlKind, x: Tensor, o: ControlMapOptions = {}): Tensor {
  return torch.noGrad(() => torch.tidy(() => {
    const [b, , h, w] = x.shape as [number, number, number, number];
    if (kind === 'lowres') {
      const f = o.factor ?? 4;
      if (h % f !== 0 || w % f !== 0) throw new RangeError(`lowres control: ${h}×${w} is not divisible by ${f}`);
      const small = torch.avgPool2d(x.to('float32'), f); // (B, C, H/f, W/f)
      return torch.interpolate(small, { scaleFactor: f, mode: 'nearest' }); // (B, C, H, W)
    }
    // Gray uint8 as the images are stored: ((x + 1)·127.5) truncated, the channel mean for RGB.
    const gray = x.to('float32').mean(1).add(1).mul(127.5).clamp(0, 255).to('uint8').contiguous(); // (B, H, W)
    const bytes = gray.data() as Uint8Array;
    const edges = new Float32Array(b * h * w);
    for (let i = 0; i < b; i++) {
      const e = canny(bytes.subarray(i * h * w, (i + 1) * h * w), w, h, { low: o.low ?? 100, high: o.high ?? 200 });
      for (let j = 0; j < e.length; j++) edges[i * h * w + j] = e[j] === 255 ? 1 : -1;
    }
    let map = torch.tensor(edges, { shape: [b, 1, h, w] }); // (B, 1, H, W)
    // Scribbles: strokes 3 pixels wide, as a dilation (max over each 3×3 window).
    if (kind === 'scribble') map = torch.maxPool2d(map, 3, { stride: 1, padding: 1 });
    return x.device === 'cpu' ? map : map.to(x.device);
  }));
}
