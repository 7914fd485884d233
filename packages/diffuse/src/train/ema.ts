// Exponential moving averages of the parameters at several rates (improved-diffusion's
// update_ema), with the optional warmup decay min(rate, (1 + n) / (10 + n)).
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';

export class EMA {
  /** One shadow copy of every parameter per rate, in the model's parameter order. */
  readonly shadows = new Map<number, Tensor[]>();

  /**
   * @param params the model's parameters (namedParameters order).
   * @param rates decay rates, e.g. [0.9999].
   * @param warmup use min(rate, (1 + n) / (10 + n)) at update n, so early averages are not
   *   dominated by the random initialisation.
   */
  constructor(readonly params: Tensor[], readonly rates: number[], readonly warmup = true) {
    // tidy: each detach() is a handle of its own, left to the GC otherwise (found by the soak).
    torch.noGrad(() => {
      for (const r of rates) this.shadows.set(r, torch.tidy(() => params.map((p) => p.detach().clone().keep())));
    });
  }

  /** The decay used at update number n (0-based). */
  decay(rate: number, n: number): number {
    return this.warmup ? Math.min(rate, (1 + n) / (10 + n)) : rate;
  }

  /** θ_ema ← d·θ_ema + (1 − d)·θ after optimizer step n. */
  update(n: number): void {
    torch.noGrad(() => {
      for (const [rate, shadow] of this.shadows) {
        const d = this.decay(rate, n);
        shadow.forEach((s, i) => s.mul_(d).add_(this.params[i]!, 1 - d));
      }
    });
  }

  /** Copies the averaged weights at `rate` into tensors shaped like the params (e.g. a model). */
  copyTo(rate: number, targets: Tensor[]): void {
    const shadow = this.shadows.get(rate);
    if (shadow === undefined) throw new RangeError(`no EMA at rate ${rate}; rates: ${this.rates.join(', ')}`);
    torch.noGrad(() => targets.forEach((t, i) => t.copy_(shadow[i]!)));
  }

  dispose(): void {
    for (const s of this.shadows.values()) for (const t of s) t.dispose();
    this.shadows.clear();
  }
}
