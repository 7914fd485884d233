// The Canny edge detector (Canny 1986) as OpenCV's cv2.Canny computes it — the control maps
// ControlNet was trained with: 3×3 Sobel gradients (borders replicated), non-maximum suppression
// along the gradient direction quantised to 0°/45°/90°/135°, and hysteresis: pixels above `high`
// that survive suppression are edges, and so is every surviving pixel above `low` 8-connected to
// one. Comparisons are OpenCV's (integer magnitudes, one-sided ties), so the maps match its own.

export interface CannyOptions {
  /** Lower hysteresis threshold on the gradient magnitude (OpenCV's threshold1; ControlNet used 100). */
  low: number;
  /** Upper threshold (threshold2; ControlNet used 200). Swapped with low when smaller. */
  high: number;
  /** Magnitude √(dx² + dy²) instead of |dx| + |dy| (OpenCV's L2gradient; default false). */
  l2?: boolean;
}

/** tan(22.5°) in 15-bit fixed point (OpenCV's TG22). */
const TG22 = Math.round(0.4142135623730950488016887242097 * (1 << 15));

/**
 * Edges of a gray image.
 * @param image H·W bytes, row-major.
 * @param width W; @param height H.
 * @param o thresholds (and the L2 magnitude).
 * @returns H·W bytes: 255 on edges, 0 elsewhere.
 */
export function canny(image: Uint8Array, width: number, height: number, o: CannyOptions): Uint8Array {
  if (image.length !== width * height) throw new RangeError(`canny: ${image.length} bytes for ${width}×${height}`);
  let [lowT, highT] = o.low <= o.high ? [o.low, o.high] : [o.high, o.low];
  if (o.l2) {
    lowT = lowT > 0 ? Math.min(32767, lowT) ** 2 : lowT;
    highT = highT > 0 ? Math.min(32767, highT) ** 2 : highT;
  }
  const low = Math.floor(lowT);
  const high = Math.floor(highT);
  const w = width;
  const h = height;
  const at = (x: number, y: number): number => image[Math.min(h - 1, Math.max(0, y)) * w + Math.min(w - 1, Math.max(0, x))]!;
  // 1. Sobel with replicated borders: dx = [−1 0 1; −2 0 2; −1 0 1], dy its transpose.
  const dx = new Int32Array(w * h);
  const dy = new Int32Array(w * h);
  // Magnitudes with a zero frame one pixel wide, so neighbours outside the image never win.
  const W = w + 2;
  const mag = new Int32Array(W * (h + 2));
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const gx = at(x + 1, y - 1) - at(x - 1, y - 1) + 2 * (at(x + 1, y) - at(x - 1, y)) + at(x + 1, y + 1) - at(x - 1, y + 1);
      const gy = at(x - 1, y + 1) - at(x - 1, y - 1) + 2 * (at(x, y + 1) - at(x, y - 1)) + at(x + 1, y + 1) - at(x + 1, y - 1);
      dx[y * w + x] = gx;
      dy[y * w + x] = gy;
      mag[(y + 1) * W + x + 1] = o.l2 ? gx * gx + gy * gy : Math.abs(gx) + Math.abs(gy);
    }
  }
  // 2. Non-maximum suppression: 0 = candidate (above low), 2 = strong edge, 1 = neither.
  const state = new Uint8Array(w * h).fill(1);
  const stack: number[] = [];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const k = (y + 1) * W + x + 1;
      const m = mag[k]!;
      if (!(m > low)) continue;
      const xs = dx[y * w + x]!;
      const ys = dy[y * w + x]!;
      const ax = Math.abs(xs);
      const ay = Math.abs(ys) * (1 << 15);
      const tg22x = ax * TG22;
      let keep: boolean;
      if (ay < tg22x) {
        keep = m > mag[k - 1]! && m >= mag[k + 1]!; // gradient ~horizontal: compare left/right
      } else if (ay > tg22x + ax * (1 << 16)) {
        keep = m > mag[k - W]! && m >= mag[k + W]!; // ~vertical: up/down
      } else {
        const s = (xs < 0) !== (ys < 0) ? -1 : 1; // diagonal: the two neighbours along it
        keep = m > mag[k - W - s]! && m > mag[k + W + s]!;
      }
      if (!keep) continue;
      const i = y * w + x;
      if (m > high) {
        state[i] = 2;
        stack.push(i);
      } else {
        state[i] = 0;
      }
    }
  }
  // 3. Hysteresis: grow the strong edges through 8-connected candidates.
  while (stack.length > 0) {
    const i = stack.pop()!;
    const x = i % w;
    const y = (i - x) / w;
    for (let yy = Math.max(0, y - 1); yy <= Math.min(h - 1, y + 1); yy++) {
      for (let xx = Math.max(0, x - 1); xx <= Math.min(w - 1, x + 1); xx++) {
        const j = yy * w + xx;
        if (state[j] === 0) {
          state[j] = 2;
          stack.push(j);
        }
      }
    }
  }
  const out = new Uint8Array(w * h);
  for (let i = 0; i < out.length; i++) if (state[i] === 2) out[i] = 255;
  return out;
}
