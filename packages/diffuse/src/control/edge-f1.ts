// How faithfully generated images follow an edge control: precision, recall and F1 of the
// samples' own Canny edges against the control edges, with a tolerance of a pixel or so (edge
// detectors place an edge on either side of a step), as edge benchmarks (BSDS) match boundaries.

export interface EdgeScore {
  precision: number;
  recall: number;
  f1: number;
}

/** Whether any pixel of `edges` within Chebyshev distance r of (x, y) is set. */
function near(edges: Uint8Array, w: number, h: number, x: number, y: number, r: number): boolean {
  for (let yy = Math.max(0, y - r); yy <= Math.min(h - 1, y + r); yy++) {
    for (let xx = Math.max(0, x - r); xx <= Math.min(w - 1, x + r); xx++) if (edges[yy * w + xx] !== 0) return true;
  }
  return false;
}

/**
 * Edge agreement of one image pair.
 * @param predicted the sample's edges (H·W, non-zero = edge).
 * @param target the control edges.
 * @param w W; @param h H.
 * @param tolerance pixels of slack (default 1).
 * @returns precision (predicted edges near a target edge), recall (target edges near a predicted
 *   one) and their harmonic mean; 1 for two empty maps, 0 when only one is empty.
 */
export function edgeF1(predicted: Uint8Array, target: Uint8Array, w: number, h: number, tolerance = 1): EdgeScore {
  let np = 0;
  let tp = 0;
  let nt = 0;
  let tr = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      if (predicted[i] !== 0) {
        np++;
        if (near(target, w, h, x, y, tolerance)) tp++;
      }
      if (target[i] !== 0) {
        nt++;
        if (near(predicted, w, h, x, y, tolerance)) tr++;
      }
    }
  }
  if (np === 0 && nt === 0) return { precision: 1, recall: 1, f1: 1 };
  const precision = np === 0 ? 0 : tp / np;
  const recall = nt === 0 ? 0 : tr / nt;
  return { precision, recall, f1: precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall) };
}
