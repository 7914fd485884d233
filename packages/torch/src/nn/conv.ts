// Transposed convolution (the adjoint of Conv2d), used to upsample feature maps.
import { empty } from '../creation.js';
import * as F from '../functional.js';
import type { Generator } from '../random.js';
import type { Tensor } from '../tensor.js';
import { defaultLayerInit_ } from './init.js';
import { Module } from './module.js';

type Pair = number | [number, number];

function pair(p: Pair): [number, number] {
  return typeof p === 'number' ? [p, p] : p;
}

export interface ConvTranspose2dOptions {
  stride?: Pair;
  padding?: Pair;
  /** Extra rows/columns added to one side of the output, to pick among the sizes a stride allows. */
  outputPadding?: Pair;
  dilation?: Pair;
  groups?: number;
  bias?: boolean;
  generator?: Generator;
}

/**
 * 2-D transposed convolution over (B, C, H, W), as torch.nn.ConvTranspose2d. The weight has
 * PyTorch's layout (in, out/groups, kH, kW), so state dicts load unchanged. Output size per axis:
 * (H − 1)·stride − 2·padding + dilation·(k − 1) + outputPadding + 1.
 */
export class ConvTranspose2d extends Module {
  readonly weight: Tensor; // (in, out/groups, kH, kW)
  readonly bias: Tensor | null; // (out,)
  readonly kernelSize: [number, number];
  readonly options: { stride: [number, number]; padding: [number, number]; outputPadding: [number, number]; dilation: [number, number]; groups: number };

  /**
   * @param inChannels channels of the input
   * @param outChannels channels of the output
   * @param kernelSize kernel height and width (one number for both)
   * @param o stride, padding, outputPadding, dilation, groups, bias (default true), generator for the init
   */
  constructor(readonly inChannels: number, readonly outChannels: number, kernelSize: Pair, o: ConvTranspose2dOptions = {}) {
    super();
    const groups = o.groups ?? 1;
    if (inChannels % groups !== 0 || outChannels % groups !== 0) {
      throw new RangeError(`ConvTranspose2d: channels (${inChannels} in, ${outChannels} out) must be divisible by groups (${groups})`);
    }
    this.kernelSize = pair(kernelSize);
    this.options = {
      stride: pair(o.stride ?? 1),
      padding: pair(o.padding ?? 0),
      outputPadding: pair(o.outputPadding ?? 0),
      dilation: pair(o.dilation ?? 1),
      groups,
    };
    const { stride, dilation, outputPadding } = this.options;
    for (let i = 0; i < 2; i++) {
      if (outputPadding[i]! >= Math.max(stride[i]!, dilation[i]!)) {
        throw new RangeError(`ConvTranspose2d: outputPadding must be smaller than stride or dilation, got ${outputPadding[i]}`);
      }
    }
    this.weight = this.registerParameter('weight', empty([inChannels, outChannels / groups, ...this.kernelSize]));
    this.bias = this.registerParameter('bias', o.bias === false ? null : empty([outChannels]));
    // PyTorch's _ConvNd.reset_parameters: fan_in is weight.size(1)·kH·kW = (out/groups)·kH·kW here.
    defaultLayerInit_(this.weight, this.bias, o.generator);
  }

  /**
   * @param x input (B, in, H, W)
   * @param outputSize optional target (H', W') (or (B, C, H', W')): chooses outputPadding as PyTorch does
   * @returns (B, out, H', W')
   */
  forward(x: Tensor, outputSize?: number[]): Tensor {
    const outputPadding = outputSize === undefined ? this.options.outputPadding : this.outputPaddingFor(x, outputSize);
    return F.convTranspose2d(x, this.weight, this.bias, { ...this.options, outputPadding }); // (B, out, H', W')
  }

  /** The output padding that yields outputSize (PyTorch's _ConvTransposeNd._output_padding). */
  private outputPaddingFor(x: Tensor, outputSize: number[]): [number, number] {
    const target = outputSize.slice(-2);
    const { stride, padding, dilation } = this.options;
    const inSize = x.shape.slice(-2);
    const out: [number, number] = [0, 0];
    for (let i = 0; i < 2; i++) {
      const min = (inSize[i]! - 1) * stride[i]! - 2 * padding[i]! + dilation[i]! * (this.kernelSize[i]! - 1) + 1;
      const max = min + stride[i]! - 1;
      const t = target[i]!;
      if (target.length !== 2 || t < min || t > max) {
        throw new RangeError(`ConvTranspose2d: requested output size [${target.join(', ')}] is not reachable (per axis between ${min} and ${max})`);
      }
      out[i] = t - min;
    }
    return out;
  }
}
