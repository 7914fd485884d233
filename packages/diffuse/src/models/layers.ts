// The UNet's small pieces, after improved-diffusion's nn.py and unet.py: float32 group norm,
// zero_module, nearest-neighbour upsampling, strided-conv or average-pool downsampling, and the
// sequential container that hands the timestep embedding to the blocks that take one.
import * as torch from '@diffuse/torch';
import { nn, type Tensor, type Generator } from '@diffuse/torch';

/**
 * GroupNorm that computes in float32 whatever the input's precision (as improved-diffusion's
 * GroupNorm32), so half-precision activations do not lose the statistics.
 */
export class GroupNorm32 extends nn.GroupNorm {
  override forward(x: Tensor): Tensor {
    if (x.dtype !== 'float16' && x.dtype !== 'bfloat16') return super.forward(x);
    return torch.tidy(() => {
      const w = this.weight?.to('float32') ?? null;
      const b = this.bias?.to('float32') ?? null;
      return torch.groupNorm(x.to('float32'), this.numGroups, w, b, this.o.eps ?? 1e-5).to(x.dtype);
    });
  }
}

/**
 * improved-diffusion's normalization(channels): GroupNorm32 with 32 groups. improved-diffusion
 * requires channels divisible by 32; below 32 channels we use one group per channel (min(32, C))
 * so that tiny test models build.
 * @param channels the number of channels C.
 * @returns the norm layer.
 */
export function normalization(channels: number): GroupNorm32 {
  const groups = Math.min(32, channels);
  if (channels % groups !== 0) {
    throw new RangeError(`normalization: ${channels} channels do not split into 32 groups; use channel counts divisible by 32`);
  }
  return new GroupNorm32(groups, channels);
}

/**
 * Zeroes every parameter of a module (improved-diffusion's zero_module), so a residual branch
 * starts as the identity.
 * @param module the module, changed in place.
 * @returns the same module.
 */
export function zeroModule<M extends nn.Module>(module: M): M {
  for (const p of module.parameters()) nn.init.zeros_(p);
  return module;
}

/** Nearest-neighbour ×2 upsampling, optionally followed by a 3×3 conv (`conv`). */
export class Upsample extends nn.Module {
  readonly conv: nn.Conv2d | null;
  constructor(readonly channels: number, useConv: boolean, generator?: Generator) {
    super();
    this.conv = useConv ? this.registerModule('conv', new nn.Conv2d(channels, channels, 3, { padding: 1, generator })) : null;
  }
  forward(x: Tensor): Tensor {
    const up = torch.interpolate(x, { scaleFactor: 2, mode: 'nearest' }); // (B, C, 2H, 2W)
    if (this.conv === null) return up;
    const out = this.conv.forward(up);
    up.dispose();
    return out;
  }
}

/** ×2 downsampling: a stride-2 3×3 conv (`op`), or 2×2 average pooling (no parameters). */
export class Downsample extends nn.Module {
  readonly op: nn.Conv2d | null;
  constructor(readonly channels: number, useConv: boolean, generator?: Generator) {
    super();
    this.op = useConv ? this.registerModule('op', new nn.Conv2d(channels, channels, 3, { stride: 2, padding: 1, generator })) : null;
  }
  forward(x: Tensor): Tensor {
    return this.op === null ? torch.avgPool2d(x, 2) : this.op.forward(x); // (B, C, ⌈H/2⌉, ⌈W/2⌉)
  }
}

/** A block whose forward also takes the timestep (and class) embedding. */
export abstract class TimestepBlock extends nn.Module {
  /**
   * @param x activations (B, C, H, W).
   * @param emb the embedding (B, E).
   */
  abstract forward(x: Tensor, emb: Tensor): Tensor;
}

/** Runs its layers in order, passing the embedding to the TimestepBlocks; children '0', '1', … */
export class TimestepEmbedSequential extends TimestepBlock {
  readonly layers: (TimestepBlock | nn.UnaryModule)[];
  constructor(...layers: (TimestepBlock | nn.UnaryModule)[]) {
    super();
    this.layers = layers;
    layers.forEach((m, i) => this.registerModule(String(i), m));
  }
  forward(x: Tensor, emb: Tensor): Tensor {
    let h = x;
    for (const m of this.layers) {
      const next = m instanceof TimestepBlock ? m.forward(h, emb) : m.forward(h);
      if (h !== x && next !== h) h.dispose();
      h = next;
    }
    return h;
  }
}
