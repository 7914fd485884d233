// Running averages for the log, as improved-diffusion's logger.logkv_mean: each key averaged
// over the log interval, plus loss terms per timestep quartile (loss_q0 … loss_q3).

export class RunningMeans {
  private sums = new Map<string, number>();
  private counts = new Map<string, number>();

  add(key: string, value: number, count = 1): void {
    this.sums.set(key, (this.sums.get(key) ?? 0) + value * count);
    this.counts.set(key, (this.counts.get(key) ?? 0) + count);
  }

  /**
   * Adds per-example values of a term and their per-quartile means.
   * @param key e.g. 'loss'
   * @param values one value per example
   * @param timesteps the example's timestep (same length)
   * @param numTimesteps T, to bucket t into quartiles
   */
  addByQuartile(key: string, values: ArrayLike<number>, timesteps: ArrayLike<number>, numTimesteps: number): void {
    let total = 0;
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      total += v;
      const q = Math.min(3, Math.floor((4 * timesteps[i]!) / numTimesteps));
      this.add(`${key}_q${q}`, v);
    }
    if (values.length > 0) this.add(key, total / values.length, values.length);
  }

  /** The means since the last flush, keys sorted; then starts over. */
  flush(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const k of [...this.sums.keys()].sort()) out[k] = this.sums.get(k)! / this.counts.get(k)!;
    this.sums.clear();
    this.counts.clear();
    return out;
  }
}
