// Smoothing of noisy training curves, as TensorBoard's slider does it: an exponential moving
// average debiased at the start (so the first points are not pulled towards zero); and thinning
// of long series to what a chart can show.
// assets/board/dashboard.js carries the same formula for the browser's slider.

/**
 * Debiased exponential moving average.
 * @param ys the values (non-finite ones are carried through untouched and skipped by the mean).
 * @param weight how much of the past each point keeps, in [0, 1): 0 = no smoothing.
 * @param log average log10 of the values (for a log-scale axis, where a mean of the raw values
 *   would be pulled up by spikes).
 * @returns the smoothed series, same length.
 */
export function smoothSeries(ys: readonly number[], weight: number, log = false): number[] {
  const out: number[] = [];
  let acc = 0;
  let n = 0;
  for (const y of ys) {
    const v = log ? Math.log10(y) : y;
    if (!Number.isFinite(v)) {
      out.push(y);
      continue;
    }
    acc = acc * weight + (1 - weight) * v;
    n++;
    const debiased = acc / (1 - weight ** n);
    out.push(log ? 10 ** debiased : debiased);
  }
  return out;
}

/**
 * A smoothing weight that gives a readable curve whatever the number of points: about the mean of
 * the last 2 % of the run (TensorBoard's 0.6 suits a few hundred points, too little for 10,000).
 * @param n the number of points.
 */
export function autoSmoothWeight(n: number): number {
  const window = Math.max(1, n / 50);
  return Math.min(0.99, Math.max(0.6, 1 - 2 / (window + 1)));
}

/** `max` points evenly spaced over the series, the first and the last kept (all when it is short). */
export function thin<T>(xs: readonly T[], max: number): T[] {
  if (xs.length <= max) return [...xs];
  if (max < 2) return [xs[xs.length - 1]!];
  // n > max, so the rounded positions are distinct.
  return Array.from({ length: max }, (_, i) => xs[Math.round((i * (xs.length - 1)) / (max - 1))]!);
}
