// The DiT's token plumbing (Peebles & Xie 2023, §3.2 "Patchify" and Fig. 4): cutting images or
// clips into patches and back, and the fixed sin-cos positions computed from each patch's
// coordinates, so that one model takes any grid of patches (any H×W divisible by p, any T).
import * as torch from '@diffuse/torch';
import { nn, type Tensor, type Generator } from '@diffuse/torch';

/** A Linear whose matmul may run in bfloat16 (float32 masters, output back in the input's dtype). */
export class DiTLinear extends nn.Linear implements nn.HasComputeDType {
  computeDtype: nn.ComputeDType = 'float32';
  override forward(x: Tensor): Tensor {
    if (this.computeDtype === 'float32' || x.device !== 'cpu') return super.forward(x);
    return nn.castedCall(x, this.weight, this.bias, this.computeDtype, (xi, w, b) => torch.linear(xi, w, b));
  }
}

/**
 * Sin-cos embedding of positions along one axis (DiT's get_1d_sincos_pos_embed_from_grid):
 * ω_i = 10000^(−i/(d/2)), [sin(pos·ω), cos(pos·ω)]; computed in float64 as numpy does.
 * @param dim even width d; @param pos the positions; @param out (pos.length, stride) row-major, written at column `col`.
 */
function sincos1d(dim: number, pos: ArrayLike<number>, out: Float32Array, stride: number, col: number): void {
  const half = dim / 2;
  for (let n = 0; n < pos.length; n++) {
    for (let i = 0; i < half; i++) {
      const a = pos[n]! / 10000 ** (i / half);
      out[n * stride + col + i] = Math.sin(a);
      out[n * stride + col + half + i] = Math.cos(a);
    }
  }
}

/**
 * The fixed positions of a grid of patches, from their coordinates: tokens in row-major order
 * over (t,) y, x. Images take DiT's layout [sincos(D/2, x), sincos(D/2, y)] (its meshgrid puts
 * the column first); clips take [sincos(3D/8, x), sincos(3D/8, y), sincos(D/4, t)].
 * @param dim D (divisible by 4, or by 16 for clips).
 * @param grid [h, w] patches, or [t, h, w] for clips.
 * @returns (h·w, D) or (t·h·w, D) float32 values (a plain array, made into a tensor per call).
 */
export function sincosPositions(dim: number, grid: readonly number[]): Float32Array {
  const [t, h, w] = grid.length === 3 ? (grid as [number, number, number]) : [1, grid[0]!, grid[1]!];
  const n = t * h * w;
  const xs = new Float64Array(n);
  const ys = new Float64Array(n);
  const ts = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    xs[k] = k % w;
    ys[k] = Math.floor(k / w) % h;
    ts[k] = Math.floor(k / (w * h));
  }
  const out = new Float32Array(n * dim);
  if (grid.length === 2) {
    sincos1d(dim / 2, xs, out, dim, 0);
    sincos1d(dim / 2, ys, out, dim, dim / 2);
  } else {
    const dxy = (3 * dim) / 8;
    sincos1d(dxy, xs, out, dim, 0);
    sincos1d(dxy, ys, out, dim, dxy);
    sincos1d(dim - 2 * dxy, ts, out, dim, 2 * dxy);
  }
  return out;
}

/**
 * Cuts images (B, C, H, W) into p×p patches, or clips (B, C, T, H, W) into pt×p×p patches.
 * @param x the batch; @param p the patch side; @param pt frames per patch (clips).
 * @returns tokens (B, N, C·[pt·]p·p) with each patch's values in (C, [pt,] p, p) order (a Conv's
 *   weight layout), and the grid [h, w] or [t, h, w].
 */
export function patchify(x: Tensor, p: number, pt = 1): { tokens: Tensor; grid: number[] } {
  return torch.tidy(() => {
    if (x.ndim === 4) {
      const [b, c, hh, ww] = x.shape as [number, number, number, number];
      const [h, w] = [hh / p, ww / p];
      const tokens = x.reshape([b, c, h, p, w, p]).permute([0, 2, 4, 1, 3, 5]).reshape([b, h * w, c * p * p]); // (B, N, C·p·p)
      return { tokens, grid: [h, w] };
    }
    const [b, c, tt, hh, ww] = x.shape as [number, number, number, number, number];
    const [t, h, w] = [tt / pt, hh / p, ww / p];
    const tokens = x.reshape([b, c, t, pt, h, p, w, p]).permute([0, 2, 4, 6, 1, 3, 5, 7]).reshape([b, t * h * w, c * pt * p * p]); // (B, N, C·pt·p·p)
    return { tokens, grid: [t, h, w] };
  });
}

/**
 * DiT's unpatchify: tokens (B, N, [pt·]p·p·C), each patch's values in ([pt,] p, p, C) order
 * (the final linear's layout), back to (B, C, H, W) or (B, C, T, H, W).
 * @param tokens the head's output; @param grid [h, w] or [t, h, w]; @param p; @param pt; @param c channels.
 */
export function unpatchify(tokens: Tensor, grid: readonly number[], p: number, pt: number, c: number): Tensor {
  return torch.tidy(() => {
    const b = tokens.size(0);
    if (grid.length === 2) {
      const [h, w] = grid as [number, number];
      return tokens.reshape([b, h, w, p, p, c]).permute([0, 5, 1, 3, 2, 4]).reshape([b, c, h * p, w * p]); // (B, C, H, W)
    }
    const [t, h, w] = grid as [number, number, number];
    return tokens.reshape([b, t, h, w, pt, p, p, c]).permute([0, 7, 1, 4, 2, 5, 3, 6]).reshape([b, c, t * pt, h * p, w * p]); // (B, C, T, H, W)
  });
}

/** A patch conv's weight (D, C, [pt,] p, p) and bias (D,), DiT's init: xavier_uniform on the weight viewed as (D, C·p·p), bias 0. */
class PatchProjection extends nn.Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  constructor(inChannels: number, dim: number, kernel: number[], generator?: Generator) {
    super();
    this.weight = this.registerParameter('weight', torch.empty([dim, inChannels, ...kernel]));
    this.bias = this.registerParameter('bias', torch.zeros([dim]));
    const fan = inChannels * kernel.reduce((a, k) => a * k, 1);
    const bound = Math.sqrt(6 / (fan + dim));
    nn.init.uniform_(this.weight, -bound, bound, generator);
  }
}

/**
 * The patch embedding: a linear map of each patch, with the weight stored as DiT's Conv2d
 * (D, C, p, p) — or a Conv3d's (D, C, pt, p, p) for clips — so its checkpoints' x_embedder loads.
 */
export class PatchEmbed extends nn.Module implements nn.HasComputeDType {
  /** The conv's parameters, child 'proj' as in DiT (x_embedder.proj.weight). */
  readonly proj: PatchProjection;
  computeDtype: nn.ComputeDType = 'float32';
  constructor(readonly inChannels: number, readonly dim: number, readonly p: number, readonly pt: number, clip: boolean, generator?: Generator) {
    super();
    this.proj = this.registerModule('proj', new PatchProjection(inChannels, dim, clip ? [pt, p, p] : [p, p], generator));
  }
  /** @param x (B, C, H, W) or (B, C, T, H, W) @returns tokens (B, N, D) and the grid. */
  forward(x: Tensor): { tokens: Tensor; grid: number[] } {
    return torch.tidy(() => {
      const { tokens, grid } = patchify(x, this.p, this.pt); // (B, N, C·p·p)
      const w = this.proj.weight.reshape([this.dim, -1]); // (D, C·p·p)
      const out = this.computeDtype === 'float32' || x.device !== 'cpu'
        ? torch.linear(tokens, w, this.proj.bias)
        : nn.castedCall(tokens, w, this.proj.bias, this.computeDtype, (xi, wi, bi) => torch.linear(xi, wi, bi));
      return { tokens: out, grid }; // (B, N, D)
    });
  }
}
