// The UNet as a standard ONNX graph (opset 17), written from our own modules: the fused
// GroupNorm→scale-shift→SiLU kernel and the packed-attention kernel are spelled in standard ops
// (InstanceNormalization over reshaped groups; MatMul/Softmax), so any ONNX runtime runs it.
// Batch, height and width are dynamic; the timestep and the class label are inputs.
import * as torch from '@diffuse/torch';
import { nn, type Tensor } from '@diffuse/torch';

import { AttentionBlock } from '../models/attention.js';
import { Downsample, TimestepEmbedSequential, Upsample } from '../models/layers.js';
import { ResBlock } from '../models/res-block.js';
import type { UNet } from '../models/unet.js';
import { OnnxGraph, type Dim } from './onnx-graph.js';

/** The names of the exported graph's inputs and output. */
export const ONNX_IO = { x: 'x', t: 't', y: 'y', out: 'out' } as const;

export interface UNetOnnxOptions {
  /** metadata_props of the model (e.g. onnxMetadata(config)). */
  metadata?: Record<string, string>;
  /** Fixed height and width instead of dynamic ones (default: dynamic 'height' × 'width'). */
  fixedSize?: [number, number];
}

/** A float32 copy of a parameter's values. */
function values(t: Tensor): Float32Array {
  return torch.tidy(() => {
    const f = t.to('float32').contiguous();
    return Float32Array.from(f.data() as Float32Array);
  });
}

/** Writes modules into a graph: each method takes value names and returns the output's name. */
class UNetWriter {
  constructor(readonly g: OnnxGraph) {}

  weight(name: string, t: Tensor, dims: number[] = t.shape as number[]): string {
    return this.g.float(name, values(t), dims);
  }

  silu(x: string, p: string): string {
    return this.g.op('Mul', [x, this.g.op('Sigmoid', [x], {}, `${p}.sigmoid`)], {}, `${p}.silu`);
  }

  linear(x: string, m: nn.Linear, p: string): string {
    const inputs = [x, this.weight(`${p}.weight`, m.weight)];
    if (m.bias !== null) inputs.push(this.weight(`${p}.bias`, m.bias));
    return this.g.op('Gemm', inputs, { transB: { int: 1 } }, p);
  }

  conv2d(x: string, m: nn.Conv2d, p: string): string {
    const pair = (v: number | [number, number]): [number, number] => (typeof v === 'number' ? [v, v] : v);
    const [ph, pw] = pair(m.options.padding as number | [number, number]);
    const [kh, kw] = m.weight.shape.slice(2) as [number, number];
    const inputs = [x, this.weight(`${p}.weight`, m.weight)];
    if (m.bias !== null) inputs.push(this.weight(`${p}.bias`, m.bias));
    return this.g.op('Conv', inputs, {
      kernel_shape: { ints: [kh, kw] },
      pads: { ints: [ph, pw, ph, pw] },
      strides: { ints: pair(m.options.stride as number | [number, number]) },
      dilations: { ints: pair(m.options.dilation as number | [number, number]) },
      group: { int: m.options.groups },
    }, p);
  }

  /** A kernel-1 Conv1d (the attention's qkv and proj_out) over (B, C, T). */
  conv1x1(x: string, m: nn.Conv1d, p: string): string {
    if (m.weight.size(2) !== 1) throw new RangeError(`ONNX export: ${p} is a Conv1d with kernel ${m.weight.size(2)}; only kernel 1 is used by the UNet`);
    const inputs = [x, this.weight(`${p}.weight`, m.weight)];
    if (m.bias !== null) inputs.push(this.weight(`${p}.bias`, m.bias));
    return this.g.op('Conv', inputs, { kernel_shape: { ints: [1] } }, p);
  }

  /**
   * GroupNorm(x)·(1 + scale) + shift, without the fused kernel: the groups become the channels of
   * an InstanceNormalization over (B, G, C/G·spatial), then the per-channel affine.
   * @param x (B, C, *spatial); @param rank 4 for images, 3 for (B, C, T).
   */
  groupNorm(x: string, m: nn.GroupNorm, p: string, rank: 3 | 4, scaleShift?: { scale: string; shift: string }): string {
    const g = this.g;
    const groups = m.numGroups;
    const c = m.numChannels;
    const grouped = g.op('Reshape', [x, g.int64([0, groups, -1])], {}, `${p}.grouped`); // (B, G, C/G·HW)
    const ones = g.float(`${p}.unit_scale`, new Float32Array(groups).fill(1), [groups]);
    const zeros = g.float(`${p}.unit_bias`, new Float32Array(groups), [groups]);
    const normed = g.op('InstanceNormalization', [grouped, ones, zeros], { epsilon: { float: m.o.eps ?? 1e-5 } }, `${p}.normed`); // (B, G, C/G·HW)
    let h = g.op('Reshape', [normed, g.op('Shape', [x], {}, `${p}.shape`)], {}, `${p}.ungrouped`); // (B, C, *spatial)
    const affine = rank === 4 ? [c, 1, 1] : [c, 1];
    if (m.weight !== null) h = g.op('Mul', [h, this.weight(`${p}.weight`, m.weight, affine)], {}, `${p}.mul`);
    if (m.bias !== null) h = g.op('Add', [h, this.weight(`${p}.bias`, m.bias, affine)], {}, `${p}.add`);
    if (scaleShift !== undefined) {
      const onePlus = g.op('Add', [scaleShift.scale, g.float(`${p}.one`, new Float32Array([1]), [])], {}, `${p}.one_plus_scale`); // (B, C, 1, 1)
      h = g.op('Add', [g.op('Mul', [h, onePlus], {}, `${p}.scaled`), scaleShift.shift], {}, `${p}.shifted`);
    }
    return h;
  }

  upsample(x: string, m: Upsample, p: string): string {
    // PyTorch's 'nearest' is ONNX's asymmetric coordinates with floor rounding.
    const up = this.g.op('Resize', [x, '', this.g.float(`${p}.scales`, new Float32Array([1, 1, 2, 2]), [4])], {
      mode: { str: 'nearest' },
      coordinate_transformation_mode: { str: 'asymmetric' },
      nearest_mode: { str: 'floor' },
    }, `${p}.resize`); // (B, C, 2H, 2W)
    return m.conv === null ? up : this.conv2d(up, m.conv, `${p}.conv`);
  }

  downsample(x: string, m: Downsample, p: string): string {
    if (m.op !== null) return this.conv2d(x, m.op, `${p}.op`);
    return this.g.op('AveragePool', [x], { kernel_shape: { ints: [2, 2] }, strides: { ints: [2, 2] } }, `${p}.pool`); // (B, C, H/2, W/2)
  }

  resample(x: string, m: Upsample | Downsample, p: string): string {
    return m instanceof Upsample ? this.upsample(x, m, p) : this.downsample(x, m, p);
  }

  /** improved-diffusion's ResBlock (dropout is the identity at inference). */
  resBlock(x: string, emb: string, m: ResBlock, p: string): string {
    const g = this.g;
    const [inNorm, , inConv] = m.inLayers.layers as [nn.GroupNorm, nn.UnaryModule, nn.Conv2d];
    let h = this.silu(this.groupNorm(x, inNorm, `${p}.in_layers.0`, 4), `${p}.in_layers.1`); // (B, C, H, W)
    let skipIn = x;
    if (m.resample !== null) {
      h = this.resample(h, m.resample, `${p}.h_upd`);
      skipIn = this.resample(x, m.resample, `${p}.x_upd`);
    }
    h = this.conv2d(h, inConv, `${p}.in_layers.2`); // (B, outC, H', W')
    const embLinear = m.embLayers.layers[1] as nn.Linear;
    const embOut = g.op('Unsqueeze', [this.linear(this.silu(emb, `${p}.emb_layers.0`), embLinear, `${p}.emb_layers.1`), g.int64([2, 3])], {}, `${p}.emb_out`); // (B, outC or 2·outC, 1, 1)
    const [outNorm, , , outConv] = m.outLayers.layers as [nn.GroupNorm, nn.UnaryModule, nn.Dropout, nn.Conv2d];
    if (m.useScaleShiftNorm) {
      const [scale, shift] = g.node('Split', [embOut, g.int64([m.outChannels, m.outChannels])], { axis: { int: 1 } }, `${p}.scale_shift`, 2) as [string, string]; // (B, outC, 1, 1) each
      h = this.groupNorm(h, outNorm, `${p}.out_layers.0`, 4, { scale, shift });
    } else {
      h = this.groupNorm(g.op('Add', [h, embOut], {}, `${p}.add_emb`), outNorm, `${p}.out_layers.0`, 4);
    }
    h = this.conv2d(this.silu(h, `${p}.out_layers.1`), outConv, `${p}.out_layers.3`); // (B, outC, H', W')
    const skip = m.skipConnection instanceof nn.Conv2d ? this.conv2d(skipIn, m.skipConnection, `${p}.skip_connection`) : skipIn;
    return g.op('Add', [skip, h], {}, `${p}.out`);
  }

  /** Self-attention over all positions; the packed kernel as MatMul + Softmax per head. */
  attention(x: string, m: AttentionBlock, p: string): string {
    const g = this.g;
    const c = m.norm.numChannels;
    const heads = m.numHeads;
    const ch = c / heads;
    const flat = g.op('Reshape', [x, g.int64([0, 0, -1])], {}, `${p}.flat`); // (B, C, T)
    const qkv = this.conv1x1(this.groupNorm(flat, m.norm, `${p}.norm`, 3), m.qkv, `${p}.qkv`); // (B, 3C, T)
    let q: string, k: string, v: string;
    if (m.useNewAttentionOrder) {
      // [q all heads | k all heads | v all heads], each (B, C, T) → (B·H, ch, T)
      [q, k, v] = g.node('Split', [qkv, g.int64([c, c, c])], { axis: { int: 1 } }, `${p}.qkv_split`, 3).map((t, i) =>
        g.op('Reshape', [t, g.int64([-1, ch, 0])], {}, `${p}.${'qkv'[i]}`),
      ) as [string, string, string];
    } else {
      // per head [q, k, v]: (B, H·3ch, T) → (B·H, 3ch, T), then split the channels
      const perHead = g.op('Reshape', [qkv, g.int64([-1, 3 * ch, 0])], {}, `${p}.per_head`);
      [q, k, v] = g.node('Split', [perHead, g.int64([ch, ch, ch])], { axis: { int: 1 } }, `${p}.qkv_split`, 3) as [string, string, string]; // (B·H, ch, T) each
    }
    // Both sides scaled by ch^(−1/4), as improved-diffusion.
    const scale = g.float(`${p}.scale`, new Float32Array([1 / Math.sqrt(Math.sqrt(ch))]), []);
    const qs = g.op('Transpose', [g.op('Mul', [q, scale], {}, `${p}.q_scaled`)], { perm: { ints: [0, 2, 1] } }, `${p}.q_t`); // (B·H, T, ch)
    const logits = g.op('MatMul', [qs, g.op('Mul', [k, scale], {}, `${p}.k_scaled`)], {}, `${p}.logits`); // (B·H, T, S)
    const weight = g.op('Softmax', [logits], { axis: { int: -1 } }, `${p}.weight`); // (B·H, T, S)
    const wT = g.op('Transpose', [weight], { perm: { ints: [0, 2, 1] } }, `${p}.weight_t`); // (B·H, S, T)
    const a = g.op('MatMul', [v, wT], {}, `${p}.attended`); // (B·H, ch, T)
    const merged = g.op('Reshape', [a, g.int64([-1, c, 0])], {}, `${p}.merged`); // (B, C, T)
    const h = this.conv1x1(merged, m.projOut, `${p}.proj_out`); // (B, C, T)
    return g.op('Reshape', [g.op('Add', [flat, h], {}, `${p}.residual`), g.op('Shape', [x], {}, `${p}.shape`)], {}, `${p}.out`); // (B, C, H, W)
  }

  sequential(x: string, emb: string, block: TimestepEmbedSequential, p: string): string {
    let h = x;
    block.layers.forEach((m, i) => {
      const path = `${p}.${i}`;
      if (m instanceof ResBlock) h = this.resBlock(h, emb, m, path);
      else if (m instanceof AttentionBlock) h = this.attention(h, m, path);
      else if (m instanceof nn.Conv2d) h = this.conv2d(h, m, path);
      else if (m instanceof Upsample || m instanceof Downsample) h = this.resample(h, m, path);
      else throw new TypeError(`ONNX export: ${path} is a ${m.constructor.name}, which has no ONNX form here`);
    });
    return h;
  }

  /** improved-diffusion's timestep_embedding (sinusoids of t), then time_embed, plus the label row. */
  embedding(model: UNet, t: string, y: string | null): string {
    const g = this.g;
    const dim = model.config.modelChannels;
    const half = Math.floor(dim / 2);
    // The frequencies computed by the same torch ops as timestepEmbedding, so they agree bitwise.
    const freqs = torch.tidy(() => values(torch.arange(0, half, 1, { dtype: 'float32' }).mul(-Math.log(10000)).div(half).exp()));
    const args = g.op('Mul', [g.op('Unsqueeze', [t, g.int64([1])], {}, 't_col'), g.float('freqs', freqs, [1, half])], {}, 'time_args'); // (B, half)
    let sinus = g.op('Concat', [g.op('Cos', [args], {}, 'time_cos'), g.op('Sin', [args], {}, 'time_sin')], { axis: { int: -1 } }, 'time_sinusoid'); // (B, 2·half)
    if (dim % 2 === 1) sinus = g.op('Pad', [sinus, g.int64([0, 0, 0, 1])], {}, 'time_sinusoid_pad'); // (B, dim)
    const [lin1, , lin2] = model.timeEmbed.layers as [nn.Linear, nn.UnaryModule, nn.Linear];
    let emb = this.linear(this.silu(this.linear(sinus, lin1, 'time_embed.0'), 'time_embed.1'), lin2, 'time_embed.2'); // (B, 4·mc)
    if (model.labelEmb !== null && y !== null) {
      emb = g.op('Add', [emb, g.op('Gather', [this.weight('label_emb.weight', model.labelEmb.weight), y], { axis: { int: 0 } }, 'label_emb')], {}, 'emb'); // (B, 4·mc)
    }
    return emb;
  }
}

/**
 * Writes a UNet as an ONNX model (opset 17, float32): inputs x (B, C, H, W) float32, t (B,)
 * float32 — the timesteps as the model sees them (rescaled when the diffusion rescales them) —
 * and, for class-conditional models, y (B,) int64 (numClasses is the null class); output out
 * (B, outputChannels, H, W). B, H and W are dynamic (H and W divisible by model.sizeDivisor).
 * @param model the UNet (its current weights; dropout left out, as in eval mode).
 * @param options metadata, fixed size.
 * @returns the serialised ModelProto.
 */
export function unetToOnnx(model: UNet, options: UNetOnnxOptions = {}): Uint8Array {
  const g = new OnnxGraph();
  const w = new UNetWriter(g);
  const c = model.config;
  const [hDim, wDim]: [Dim, Dim] = options.fixedSize ?? ['height', 'width'];
  const x = g.input(ONNX_IO.x, 'float32', ['batch', c.inChannels, hDim, wDim]);
  const t = g.input(ONNX_IO.t, 'float32', ['batch']);
  const y = model.labelEmb !== null ? g.input(ONNX_IO.y, 'int64', ['batch']) : null;
  return torch.noGrad(() => {
    const emb = w.embedding(model, t, y); // (B, 4·mc)
    const skips: string[] = [];
    let h = x;
    model.inputBlocks.items.forEach((block, i) => {
      h = w.sequential(h, emb, block, `input_blocks.${i}`);
      skips.push(h);
    });
    h = w.sequential(h, emb, model.middleBlock, 'middle_block');
    model.outputBlocks.items.forEach((block, i) => {
      h = w.sequential(g.op('Concat', [h, skips.pop()!], { axis: { int: 1 } }, `output_blocks.${i}.cat`), emb, block, `output_blocks.${i}`);
    });
    const [outNorm, , outConv] = model.out.layers as [nn.GroupNorm, nn.UnaryModule, nn.Conv2d];
    const out = w.conv2d(w.silu(w.groupNorm(h, outNorm, 'out.0', 4), 'out.1'), outConv, 'out.2'); // (B, outputChannels, H, W)
    g.output(out, ONNX_IO.out, 'float32', ['batch', model.outputChannels, hDim, wDim]);
    return g.serialize('diffuse_unet', options.metadata ?? {}, 'diffuse UNet denoiser (improved-diffusion UNetModel): x, t[, y] → model output');
  });
}
