// Multi-head attention (Vaswani et al. 2017) with torch.nn.MultiheadAttention's parameters,
// masks and return values, so PyTorch state dicts load unchanged.
import { empty, zeros } from '../creation.js';
import * as F from '../functional.js';
import { tidy } from '../memory.js';
import type { Generator } from '../random.js';
import type { Tensor } from '../tensor.js';
import { xavierUniform_, zeros_ } from './init.js';
import { Linear } from './layers.js';
import { Module } from './module.js';

export interface MultiheadAttentionOptions {
  /** Dropout on the attention weights (training mode only). */
  dropout?: number;
  /** Biases on the input and output projections (default true). */
  bias?: boolean;
  /** Inputs and output are (N, L, E) instead of PyTorch's default (L, N, E). */
  batchFirst?: boolean;
  /** Key and value feature sizes; only embedDim is supported (packed in_proj_weight). */
  kdim?: number;
  vdim?: number;
  generator?: Generator;
}

export interface AttentionCallOptions {
  /** (N, S): true (or −∞ when float) marks keys to ignore, e.g. padding. */
  keyPaddingMask?: Tensor | null;
  /** (L, S) or (N·H, L, S): boolean true = may not attend, or a float mask added to the scores. */
  attnMask?: Tensor | null;
  /** Return the attention weights (default true). */
  needWeights?: boolean;
  /** Average the returned weights over heads (default true); else (N, H, L, S). */
  averageAttnWeights?: boolean;
}

/**
 * torch.nn.MultiheadAttention: softmax(Q Kᵀ/√d + mask) V per head, with Q, K, V projected by the
 * packed in_proj_weight (3E, E) and the heads merged by out_proj. Parameter names follow PyTorch:
 * in_proj_weight, in_proj_bias, out_proj.weight, out_proj.bias.
 */
export class MultiheadAttention extends Module {
  readonly headDim: number;
  readonly dropout: number;
  readonly batchFirst: boolean;
  readonly inProjWeight: Tensor; // (3E, E): rows [W_q; W_k; W_v]
  readonly inProjBias: Tensor | null; // (3E,)
  readonly outProj: Linear;

  /**
   * @param embedDim model width E (query, key and value features)
   * @param numHeads H; E must be divisible by H
   * @param o dropout, bias, batchFirst, generator (kdim/vdim other than E are not supported)
   */
  constructor(readonly embedDim: number, readonly numHeads: number, o: MultiheadAttentionOptions = {}) {
    super();
    if (embedDim % numHeads !== 0) throw new RangeError(`MultiheadAttention: embedDim ${embedDim} is not divisible by numHeads ${numHeads}`);
    if ((o.kdim ?? embedDim) !== embedDim || (o.vdim ?? embedDim) !== embedDim) {
      throw new RangeError('MultiheadAttention: kdim and vdim different from embedDim are not supported');
    }
    this.headDim = embedDim / numHeads;
    this.dropout = o.dropout ?? 0;
    this.batchFirst = o.batchFirst ?? false;
    const bias = o.bias ?? true;
    this.inProjWeight = this.registerParameter('in_proj_weight', empty([3 * embedDim, embedDim]));
    this.inProjBias = this.registerParameter('in_proj_bias', bias ? empty([3 * embedDim]) : null);
    // Same order of random draws as PyTorch: out_proj's Linear init, then xavier on in_proj.
    this.outProj = this.registerModule('out_proj', new Linear(embedDim, embedDim, { bias, generator: o.generator }));
    xavierUniform_(this.inProjWeight, 1, o.generator);
    if (this.inProjBias !== null) zeros_(this.inProjBias);
    if (this.outProj.bias !== null) zeros_(this.outProj.bias);
  }

  /**
   * Attention of query over key/value. Shapes with batchFirst: query (N, L, E), key and value
   * (N, S, E); without: (L, N, E) and (S, N, E); unbatched (L, E) and (S, E) also work.
   * @returns [output like query, weights (N, L, S) averaged over heads or (N, H, L, S), or null]
   */
  forward(query: Tensor, key: Tensor, value: Tensor, o: AttentionCallOptions = {}): [Tensor, Tensor | null] {
    return tidy(() => {
      const batched = query.ndim === 3;
      const seqFirst = (t: Tensor): Tensor => (!batched ? t.unsqueeze(1) : this.batchFirst ? t.transpose(0, 1) : t);
      const q = seqFirst(query); // (L, N, E)
      const [L, N, E] = q.shape as [number, number, number];
      const S = seqFirst(key).size(0);
      const H = this.numHeads;
      const d = this.headDim;
      if (E !== this.embedDim) throw new RangeError(`MultiheadAttention: expected ${this.embedDim} features, got ${E}`);

      // 1. Project; self-attention uses one packed matmul as PyTorch.
      let qp: Tensor, kp: Tensor, vp: Tensor; // (L, N, E), (S, N, E), (S, N, E)
      if (query === key && key === value) {
        [qp, kp, vp] = F.linear(q, this.inProjWeight, this.inProjBias).chunk(3, -1) as [Tensor, Tensor, Tensor];
      } else {
        const w = this.inProjWeight.chunk(3, 0); // 3 × (E, E)
        const b = this.inProjBias?.chunk(3, 0) ?? [null, null, null];
        qp = F.linear(q, w[0]!, b[0]);
        kp = F.linear(seqFirst(key), w[1]!, b[1]);
        vp = F.linear(seqFirst(value), w[2]!, b[2]);
      }
      // 2. Split heads: (T, N, E) -> (N·H, T, d).
      const heads = (t: Tensor, T: number): Tensor => t.reshape([T, N * H, d]).transpose(0, 1);
      const qh = heads(qp, L).div(Math.sqrt(d)); // (N·H, L, d)
      const kh = heads(kp, S); // (N·H, S, d)
      const vh = heads(vp, S); // (N·H, S, d)

      // 3. Scores, masks, softmax, dropout.
      let scores = qh.bmm(kh.transpose(1, 2)); // (N·H, L, S)
      const mask = this.additiveMask(o, N, L, S, q.dtype); // broadcastable to (N·H, L, S)
      if (mask !== null) scores = scores.add(mask);
      let attn = scores.softmax(-1); // (N·H, L, S)
      if (this.training && this.dropout > 0) attn = F.dropout(attn, this.dropout, true);

      // 4. Weighted values, merge heads, output projection.
      const merged = attn.bmm(vh).transpose(0, 1).reshape([L * N, E]); // (L·N, E)
      let out = this.outProj.forward(merged).view([L, N, E]); // (L, N, E)
      out = !batched ? out.squeeze(1) : this.batchFirst ? out.transpose(0, 1) : out;

      // As PyTorch 1.13, the returned weights are the ones applied: after dropout in training.
      if (!(o.needWeights ?? true)) return [out, null];
      let weights = attn.view([N, H, L, S]); // (N, H, L, S)
      if (o.averageAttnWeights ?? true) weights = weights.mean(1); // (N, L, S)
      if (!batched) weights = weights.squeeze(0);
      return [out, weights];
    });
  }

  /** Key padding and attention masks merged into one float mask of 0 and −∞ (or given values). */
  private additiveMask(o: AttentionCallOptions, N: number, L: number, S: number, dtype: Tensor['dtype']): Tensor | null {
    const H = this.numHeads;
    const toFloat = (m: Tensor): Tensor => (m.dtype === 'bool' ? zeros(m.shape, { dtype }).maskedFill(m, -Infinity) : m);
    let mask: Tensor | null = null;
    if (o.attnMask) {
      const m = o.attnMask;
      const ok = (m.ndim === 2 && m.size(0) === L && m.size(1) === S) || (m.ndim === 3 && m.size(0) === N * H && m.size(1) === L && m.size(2) === S);
      if (!ok) throw new RangeError(`MultiheadAttention: attnMask must be (${L}, ${S}) or (${N * H}, ${L}, ${S}), got [${m.shape.join(', ')}]`);
      mask = toFloat(m.ndim === 2 ? m.unsqueeze(0) : m); // (1 | N·H, L, S)
    }
    if (o.keyPaddingMask) {
      const m = o.keyPaddingMask;
      if (m.ndim !== 2 || m.size(0) !== N || m.size(1) !== S) {
        throw new RangeError(`MultiheadAttention: keyPaddingMask must be (${N}, ${S}), got [${m.shape.join(', ')}]`);
      }
      const kpm = toFloat(m.view([N, 1, 1, S]).expand([N, H, 1, S]).reshape([N * H, 1, S])); // (N·H, 1, S)
      mask = mask === null ? kpm : mask.add(kpm);
    }
    return mask;
  }
}
