// The basic layers: Linear, Conv2d, GroupNorm, Embedding, Dropout, activations, containers.
import { empty, ones, zeros } from '../creation.js';
import * as F from '../functional.js';
import type { Generator } from '../random.js';
import type { Tensor } from '../tensor.js';
import { defaultLayerInit_, normal_ } from './init.js';
import { Module } from './module.js';
import { castedCall, useComputeDType, type ComputeDType, type HasComputeDType } from './precision.js';

type Pair = number | [number, number];

/** y = x Wᵀ + b over the last dimension. */
export class Linear extends Module {
  readonly weight: Tensor; // (out, in)
  readonly bias: Tensor | null; // (out,)
  constructor(readonly inFeatures: number, readonly outFeatures: number, o: { bias?: boolean; generator?: Generator } = {}) {
    super();
    this.weight = this.registerParameter('weight', empty([outFeatures, inFeatures]));
    this.bias = this.registerParameter('bias', o.bias === false ? null : empty([outFeatures]));
    defaultLayerInit_(this.weight, this.bias, o.generator);
  }
  forward(x: Tensor): Tensor {
    return F.linear(x, this.weight, this.bias);
  }
}

export interface Conv2dOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
  bias?: boolean;
  generator?: Generator;
}

/** 2-D convolution over (B, C, H, W); `computeDtype` 'bfloat16' runs it in mixed precision. */
export class Conv2d extends Module implements HasComputeDType {
  readonly weight: Tensor; // (out, in/groups, kH, kW)
  readonly bias: Tensor | null;
  readonly options: Required<Omit<Conv2dOptions, 'bias' | 'generator'>>;
  computeDtype: ComputeDType = 'float32';
  constructor(readonly inChannels: number, readonly outChannels: number, kernelSize: Pair, o: Conv2dOptions = {}) {
    super();
    const [kh, kw] = typeof kernelSize === 'number' ? [kernelSize, kernelSize] : kernelSize;
    const groups = o.groups ?? 1;
    if (inChannels % groups !== 0 || outChannels % groups !== 0) {
      throw new RangeError(`Conv2d: channels (${inChannels} in, ${outChannels} out) must be divisible by groups (${groups})`);
    }
    this.options = { stride: o.stride ?? 1, padding: o.padding ?? 0, dilation: o.dilation ?? 1, groups };
    this.weight = this.registerParameter('weight', empty([outChannels, inChannels / groups, kh, kw]));
    this.bias = this.registerParameter('bias', o.bias === false ? null : empty([outChannels]));
    defaultLayerInit_(this.weight, this.bias, o.generator);
  }
  forward(x: Tensor): Tensor {
    if (useComputeDType(this, x, this.weight)) {
      return castedCall(x, this.weight, this.bias, this.computeDtype, (xl, w, b) => F.conv2d(xl, w, b, this.options));
    }
    return F.conv2d(x, this.weight, this.bias, this.options);
  }
}

/** 1-D convolution over (B, C, L); `computeDtype` 'bfloat16' runs it in mixed precision. */
export class Conv1d extends Module implements HasComputeDType {
  readonly weight: Tensor; // (out, in/groups, k)
  readonly bias: Tensor | null;
  computeDtype: ComputeDType = 'float32';
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernelSize: number,
    readonly o: { stride?: number; padding?: number; dilation?: number; groups?: number; bias?: boolean; generator?: Generator } = {},
  ) {
    super();
    const groups = o.groups ?? 1;
    if (inChannels % groups !== 0 || outChannels % groups !== 0) {
      throw new RangeError(`Conv1d: channels (${inChannels} in, ${outChannels} out) must be divisible by groups (${groups})`);
    }
    this.weight = this.registerParameter('weight', empty([outChannels, inChannels / groups, kernelSize]));
    this.bias = this.registerParameter('bias', o.bias === false ? null : empty([outChannels]));
    defaultLayerInit_(this.weight, this.bias, o.generator);
  }
  forward(x: Tensor): Tensor {
    if (useComputeDType(this, x, this.weight)) {
      return castedCall(x, this.weight, this.bias, this.computeDtype, (xl, w, b) => F.conv1d(xl, w, b, this.o));
    }
    return F.conv1d(x, this.weight, this.bias, this.o);
  }
}

/** Group normalisation over (B, C, ...) with a per-channel affine (Wu & He 2018). */
export class GroupNorm extends Module {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  constructor(readonly numGroups: number, readonly numChannels: number, readonly o: { eps?: number; affine?: boolean } = {}) {
    super();
    if (numChannels % numGroups !== 0) {
      throw new RangeError(`GroupNorm: ${numChannels} channels are not divisible into ${numGroups} groups`);
    }
    const affine = o.affine ?? true;
    this.weight = this.registerParameter('weight', affine ? ones([numChannels]) : null);
    this.bias = this.registerParameter('bias', affine ? zeros([numChannels]) : null);
  }
  forward(x: Tensor): Tensor {
    return F.groupNorm(x, this.numGroups, this.weight, this.bias, this.o.eps ?? 1e-5);
  }
}

/** A lookup table of embeddings, initialised N(0, 1) as PyTorch. */
export class Embedding extends Module {
  readonly weight: Tensor; // (num, dim)
  constructor(readonly numEmbeddings: number, readonly embeddingDim: number, o: { generator?: Generator } = {}) {
    super();
    this.weight = this.registerParameter('weight', empty([numEmbeddings, embeddingDim]));
    normal_(this.weight, 0, 1, o.generator);
  }
  forward(indices: Tensor): Tensor {
    return F.embedding(indices, this.weight);
  }
}

/** Inverted dropout, active only in training mode. */
export class Dropout extends Module {
  constructor(readonly p = 0.5) {
    super();
    if (p < 0 || p > 1) throw new RangeError(`Dropout probability must be in [0, 1], got ${p}`);
  }
  forward(x: Tensor): Tensor {
    return F.dropout(x, this.p, this.training && this.p > 0);
  }
}

export class SiLU extends Module {
  forward(x: Tensor): Tensor {
    return x.silu();
  }
}
export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return x.relu();
  }
}
export class Identity extends Module {
  /** Returns the input itself (no copy), as nn.Identity. */
  forward(x: Tensor): Tensor {
    return x;
  }
}

/** A module with a single-tensor forward, the element type of Sequential. */
export interface UnaryModule extends Module {
  forward(x: Tensor): Tensor;
}

/** Applies its children in order; children are named '0', '1', ... as PyTorch. */
export class Sequential extends Module {
  readonly layers: UnaryModule[];
  constructor(...layers: UnaryModule[]) {
    super();
    this.layers = layers;
    layers.forEach((m, i) => this.registerModule(String(i), m));
  }
  forward(x: Tensor): Tensor {
    let h = x;
    for (const m of this.layers) {
      const next = m.forward(h);
      if (h !== x && next !== h) h.dispose();
      h = next;
    }
    return h;
  }
}

/** A list of modules registered as '0', '1', ... (no forward of its own). */
export class ModuleList<M extends Module = Module> extends Module {
  readonly items: M[] = [];
  constructor(modules: M[] = []) {
    super();
    for (const m of modules) this.append(m);
  }
  append(m: M): this {
    this.registerModule(String(this.items.length), m);
    this.items.push(m);
    return this;
  }
  get length(): number {
    return this.items.length;
  }
  at(i: number): M {
    const m = this.items[i < 0 ? this.items.length + i : i];
    if (m === undefined) throw new RangeError(`ModuleList index ${i} out of range (length ${this.items.length})`);
    return m;
  }
  [Symbol.iterator](): Iterator<M> {
    return this.items[Symbol.iterator]();
  }
}

/** Modules by name (as torch.nn.ModuleDict); entries are children under their own names. */
export class ModuleDict<M extends Module = Module> extends Module {
  readonly #items = new Map<string, M>();
  constructor(modules: Record<string, M> = {}) {
    super();
    for (const [k, m] of Object.entries(modules)) this.set(k, m);
  }
  /** Adds an entry; a name already present is an error (remove it first). */
  set(name: string, m: M): this {
    if (this.#items.has(name)) throw new Error(`ModuleDict: '${name}' is already present`);
    this.addModule(name, m);
    this.#items.set(name, m);
    return this;
  }
  get(name: string): M | undefined {
    return this.#items.get(name);
  }
  has(name: string): boolean {
    return this.#items.has(name);
  }
  /** Removes an entry; returns whether there was one. */
  delete(name: string): boolean {
    this.removeModule(name);
    return this.#items.delete(name);
  }
  keys(): string[] {
    return [...this.#items.keys()];
  }
  get size(): number {
    return this.#items.size;
  }
}
