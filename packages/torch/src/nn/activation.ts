// Elementwise activations as modules (for Sequential and for state-dict-compatible structures).
import type { Tensor } from '../tensor.js';
import { Module } from './module.js';

/** Gaussian error linear unit x·Φ(x) (Hendrycks & Gimpel 2016); 'tanh' uses their tanh approximation. */
export class GELU extends Module {
  /** @param approximate 'none' (exact, erf) or 'tanh' */
  constructor(readonly approximate: 'none' | 'tanh' = 'none') {
    super();
  }
  forward(x: Tensor): Tensor {
    return x.gelu(this.approximate);
  }
}

export class Tanh extends Module {
  forward(x: Tensor): Tensor {
    return x.tanh();
  }
}

export class Sigmoid extends Module {
  forward(x: Tensor): Tensor {
    return x.sigmoid();
  }
}
