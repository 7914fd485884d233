// Layers that change spatial shape: flattening, nearest/bilinear upsampling and pooling.
import * as F from '../functional.js';
import type { Tensor } from '../tensor.js';
import { Module } from './module.js';

type Pair = number | [number, number];

/** Flattens dims startDim..endDim into one (torch.nn.Flatten; defaults keep the batch dim). */
export class Flatten extends Module {
  constructor(readonly startDim = 1, readonly endDim = -1) {
    super();
  }
  /** @param x (B, d1, d2, ...) @returns (B, d1·d2·...) with the defaults */
  forward(x: Tensor): Tensor {
    return x.flatten(this.startDim, this.endDim);
  }
}

export interface UpsampleOptions {
  /** Output (H, W); give this or scaleFactor. */
  size?: [number, number];
  scaleFactor?: number | [number, number];
  mode?: 'nearest' | 'bilinear' | 'bicubic';
  alignCorners?: boolean;
}

/** torch.nn.Upsample over (B, C, H, W); nearest by default. */
export class Upsample extends Module {
  constructor(readonly o: UpsampleOptions) {
    super();
    if ((o.size === undefined) === (o.scaleFactor === undefined)) {
      throw new RangeError('Upsample: give exactly one of size and scaleFactor');
    }
  }
  /** @param x (B, C, H, W) @returns (B, C, H', W') */
  forward(x: Tensor): Tensor {
    return F.interpolate(x, { size: this.o.size, scaleFactor: this.o.scaleFactor, mode: this.o.mode ?? 'nearest', alignCorners: this.o.alignCorners });
  }
}

/** Average pooling over (B, C, H, W); stride defaults to the kernel size as PyTorch. */
export class AvgPool2d extends Module {
  constructor(readonly kernelSize: Pair, readonly o: F.Pool2dOptions & { countIncludePad?: boolean } = {}) {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.avgPool2d(x, this.kernelSize, this.o);
  }
}

/** Max pooling over (B, C, H, W); stride defaults to the kernel size as PyTorch. */
export class MaxPool2d extends Module {
  constructor(readonly kernelSize: Pair, readonly o: F.Pool2dOptions & { dilation?: Pair } = {}) {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.maxPool2d(x, this.kernelSize, this.o);
  }
}
