// AdamW (Loshchilov & Hutter 2019): Adam with weight decay decoupled from the gradient, as
// PyTorch 1.13's single-tensor AdamW (default weight decay 1e-2).
import { Adam, type AdamOptions } from './adam.js';
import type { ParamsArg } from './optimizer.js';

export class AdamW extends Adam {
  /**
   * @param params tensors to optimize, or groups of them with their own options.
   * @param options override the defaults (lr 1e-3, betas [0.9, 0.999], eps 1e-8, weightDecay 1e-2).
   */
  constructor(params: ParamsArg<AdamOptions>, options: Partial<AdamOptions> = {}) {
    super(params, { ...options, weightDecay: options.weightDecay ?? 1e-2 });
  }

  protected override get decoupledWeightDecay(): boolean {
    return true;
  }
}
