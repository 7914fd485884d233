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
