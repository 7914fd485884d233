// Layer normalisation (Ba et al. 2016): statistics over the trailing dimensions of each sample.
import { ones, zeros } from '../creation.js';
import * as F from '../functional.js';
import type { Tensor } from '../tensor.js';
import { Module } from './module.js';

/** torch.nn.LayerNorm: normalises over the last normalizedShape.length dimensions. */
export class LayerNorm extends Module {
  readonly normalizedShape: number[];
  readonly eps: number;
  readonly weight: Tensor | null; // normalizedShape
  readonly bias: Tensor | null; // normalizedShape

  /**
   * @param normalizedShape the trailing shape to normalise over (a number for the last dim only)
   * @param o eps (default 1e-5), elementwiseAffine (default true: learnable γ = 1, β = 0)
   */
  constructor(normalizedShape: number | number[], o: { eps?: number; elementwiseAffine?: boolean } = {}) {
    super();
    this.normalizedShape = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
    this.eps = o.eps ?? 1e-5;
    const affine = o.elementwiseAffine ?? true;
    this.weight = this.registerParameter('weight', affine ? ones(this.normalizedShape) : null);
    this.bias = this.registerParameter('bias', affine ? zeros(this.normalizedShape) : null);
  }

  /** @param x (..., *normalizedShape) @returns the same shape */
  forward(x: Tensor): Tensor {
    return F.layerNorm(x, this.normalizedShape, this.weight, this.bias, this.eps);
  }
}

/**
 * torch.nn.BatchNorm2d (Ioffe & Szegedy 2015): per-channel statistics over (B, H, W). In training
 * mode it normalises with the batch's statistics and updates the running ones (momentum, unbiased
 * variance, as PyTorch); in eval mode it uses the running ones. The state dict has PyTorch's
 * names (weight, bias, running_mean, running_var, num_batches_tracked).
 */
export class BatchNorm2d extends Module {
  readonly weight: Tensor | null; // (C,)
  readonly bias: Tensor | null; // (C,)
  readonly runningMean: Tensor; // (C,)
  readonly runningVar: Tensor; // (C,)
  readonly numBatchesTracked: Tensor; // () int64
  readonly eps: number;
  readonly momentum: number;

  /**
   * @param numFeatures C, the channels.
   * @param o eps (default 1e-5), momentum of the running statistics (default 0.1), affine (default true: γ = 1, β = 0)
   */
  constructor(readonly numFeatures: number, o: { eps?: number; momentum?: number; affine?: boolean } = {}) {
    super();
    this.eps = o.eps ?? 1e-5;
    this.momentum = o.momentum ?? 0.1;
    const affine = o.affine ?? true;
    this.weight = this.registerParameter('weight', affine ? ones([numFeatures]) : null);
    this.bias = this.registerParameter('bias', affine ? zeros([numFeatures]) : null);
    this.runningMean = this.registerBuffer('running_mean', zeros([numFeatures]));
    this.runningVar = this.registerBuffer('running_var', ones([numFeatures]));
    this.numBatchesTracked = this.registerBuffer('num_batches_tracked', zeros([], { dtype: 'int64' }));
  }

  /** @param x (B, C, H, W) @returns the same shape */
  forward(x: Tensor): Tensor {
    if (this.training) this.numBatchesTracked.add_(1);
    // aten::batch_norm updates the running statistics in place when training.
    return F.batchNorm(x, this.runningMean, this.runningVar, this.weight, this.bias, this.training, this.momentum, this.eps);
  }
}
