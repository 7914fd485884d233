// LoRA (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models"): a frozen layer
// W gains a trainable low-rank update, h = W x + (α / r)·s·B A x, with A (r × in) and B (out × r).
// B starts at zero, so a fresh adapter leaves the layer's output bit-identical; only A and B train.
// For convolutions A is a convolution with the layer's kernel, stride, padding and dilation into
// r channels and B a 1×1 convolution out of them (PEFT's layout), so ΔW = B·A is a kernel of W's
// shape and merging is exact up to float rounding.
//
// The adapter attaches to the layer it changes (children `lora_A` and `lora_B`, by adapter name,
// as PEFT) and replaces that one instance's forward: the parent keeps its typed field, the base
// weights keep their state-dict names, and models that call `layer.forward` need no change.
import { noGrad } from '../autograd.js';
import * as F from '../functional.js';
import { tidy } from '../memory.js';
import type { Generator } from '../random.js';
import type { Tensor } from '../tensor.js';
import { zeros_ } from './init.js';
import { Conv1d, Conv2d, Linear, ModuleDict } from './layers.js';
import type { Module } from './module.js';

/** The layers LoRA can wrap. */
export type LoraTarget = Linear | Conv1d | Conv2d;

/** Whether a module is a layer LoRA can wrap. */
export function isLoraTarget(m: Module): m is LoraTarget {
  return m instanceof Linear || m instanceof Conv1d || m instanceof Conv2d;
}

export interface LoraConfig {
  /** r, the rank of the update (an integer ≥ 1). */
  rank: number;
  /** α: the update is scaled by α / r (default r, so the scale is 1). */
  alpha?: number;
  /** Dropout on the adapter's input while training (default 0). */
  dropout?: number;
}

export interface InjectLoraOptions extends LoraConfig {
  /**
   * Which layers to wrap, by module path. A string matches a path that equals it or ends with
   * '.' + it, `*` standing for any run of characters within one dotted segment ('qkv',
   * 'input_blocks.*.0.in_layers.2'); a RegExp must match the whole path. A match that is not a
   * Linear/Conv1d/Conv2d wraps every such layer below it.
   */
  targets: readonly (string | RegExp)[];
  /** The adapter's name (default 'default'); several adapters may wrap the same layers. */
  name?: string;
  /** s, the adapter's weight at inference (default 1). */
  scale?: number;
  /** Stop every parameter of the model outside this adapter from requiring grad (default true). */
  freezeBase?: boolean;
  /** For A's initialisation. */
  generator?: Generator;
}

/** One adapter on one layer. */
interface Entry {
  /** A: in → r. */
  readonly down: LoraTarget;
  /** B: r → out, zero at first. */
  readonly up: LoraTarget;
  readonly dropout: number;
}

/** What LoRA keeps per wrapped layer: the layer's own forward and its adapters by name. */
interface Host {
  readonly layer: LoraTarget;
  readonly baseForward: (x: Tensor) => Tensor;
  /** The layer's own `forward` property before LoRA (another wrapper's), restored on removal. */
  readonly ownForward: PropertyDescriptor | undefined;
  readonly downs: ModuleDict<LoraTarget>;
  readonly ups: ModuleDict<LoraTarget>;
  readonly entries: Map<string, Entry>;
  /** Per adapter name: the factor (α / r)·s while applied in forward, or merged into W. */
  readonly adapters: Map<string, Lora>;
}

const hosts = new WeakMap<Module, Host>();

function checkConfig(o: LoraConfig): void {
  if (!Number.isInteger(o.rank) || o.rank < 1) throw new RangeError(`LoRA rank must be an integer ≥ 1, got ${o.rank}`);
  if (o.alpha !== undefined && !(o.alpha > 0 && Number.isFinite(o.alpha))) throw new RangeError(`LoRA alpha must be a number > 0, got ${o.alpha}`);
  if (o.dropout !== undefined && !(o.dropout >= 0 && o.dropout < 1)) throw new RangeError(`LoRA dropout must be in [0, 1), got ${o.dropout}`);
}

/** A pattern as a RegExp over whole paths (see InjectLoraOptions.targets). */
function patternRegExp(p: string | RegExp): RegExp {
  if (p instanceof RegExp) return new RegExp(`^(?:${p.source})$`, p.flags.replace('g', ''));
  const body = p.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^.]*');
  return new RegExp(`(?:^|\\.)${body}$`);
}

/** The A and B layers of an adapter on `layer`. */
function makeAdapterLayers(layer: LoraTarget, rank: number, generator: Generator | undefined): { down: LoraTarget; up: LoraTarget } {
  let down: LoraTarget;
  let up: LoraTarget;
  if (layer instanceof Linear) {
    down = new Linear(layer.inFeatures, rank, { bias: false, generator }); // A (r, in)
    up = new Linear(rank, layer.outFeatures, { bias: false }); // B (out, r)
  } else if (layer instanceof Conv2d) {
    const { stride, padding, dilation, groups } = layer.options;
    if (groups !== 1) throw new RangeError(`LoRA wraps only ungrouped convolutions (this Conv2d has groups ${groups})`);
    const [, , kh, kw] = layer.weight.shape as [number, number, number, number];
    down = new Conv2d(layer.inChannels, rank, [kh, kw], { stride, padding, dilation, bias: false, generator }); // A (r, in, kH, kW)
    up = new Conv2d(rank, layer.outChannels, 1, { bias: false }); // B (out, r, 1, 1)
  } else {
    const { stride, padding, dilation, groups } = layer.o;
    if ((groups ?? 1) !== 1) throw new RangeError(`LoRA wraps only ungrouped convolutions (this Conv1d has groups ${groups})`);
    down = new Conv1d(layer.inChannels, rank, layer.kernelSize, { stride, padding, dilation, bias: false, generator }); // A (r, in, k)
    up = new Conv1d(rank, layer.outChannels, 1, { bias: false }); // B (out, r, 1)
  }
  // A keeps the layer default (Kaiming-uniform, a = √5: PEFT's choice); B = 0 makes ΔW = 0.
  zeros_(up.weight);
  return { down, up };
}

/** The host of a layer, created (with the forward replaced) on first use. */
function hostOf(layer: LoraTarget): Host {
  let host = hosts.get(layer);
  if (host !== undefined) return host;
  const baseForward = layer.forward.bind(layer) as (x: Tensor) => Tensor;
  host = {
    layer,
    baseForward,
    ownForward: Object.getOwnPropertyDescriptor(layer, 'forward'),
    downs: layer.addModule('lora_A', new ModuleDict<LoraTarget>()),
    ups: layer.addModule('lora_B', new ModuleDict<LoraTarget>()),
    entries: new Map(),
    adapters: new Map(),
  };
  const h = host;
  Object.defineProperty(layer, 'forward', { value: (x: Tensor): Tensor => loraForward(h, x), configurable: true, writable: true });
  hosts.set(layer, host);
  return host;
}

/** h = W x + Σ_adapters (α / r)·s·B A dropout(x), for the adapters not merged into W. */
function loraForward(host: Host, x: Tensor): Tensor {
  return tidy(() => {
    let y = host.baseForward(x); // (B, out, …) or (…, out)
    for (const [name, e] of host.entries) {
      const lora = host.adapters.get(name)!;
      if (lora.merged || lora.scale === 0) continue;
      // The adapter computes in the layer's precision (bfloat16 convolutions stay bfloat16).
      if (!(host.layer instanceof Linear)) (e.down as Conv2d).computeDtype = (e.up as Conv2d).computeDtype = host.layer.computeDtype;
      const h = e.dropout > 0 && e.down.training ? F.dropout(x, e.dropout, true) : x;
      const delta = e.up.forward(e.down.forward(h)); // (B, out, …): B A x
      // y + c·ΔWx in one op: with B = 0 it adds exact zeros, so y is unchanged to the bit.
      y = y.add(delta.dtype === y.dtype ? delta : delta.to(y.dtype), lora.scaling * lora.scale);
    }
    return y;
  });
}

/** ΔW = B·A in W's shape: (out, in) or (out, in, *kernel). */
function deltaWeight(layer: LoraTarget, e: Entry): Tensor {
  return tidy(() => {
    const w = layer.weight;
    const r = e.down.weight.size(0);
    const b = e.up.weight.reshape([w.size(0), r]); // (out, r)
    const a = e.down.weight.reshape([r, -1]); // (r, in·k)
    return b.matmul(a).reshape(w.shape); // (out, in, *k)
  });
}

/**
 * One named adapter over a model: its layers, parameters, scale, merge state and file form.
 * Made by injectLora.
 */
export class Lora {
  readonly rank: number;
  readonly alpha: number;
  readonly dropout: number;
  /** α / r. */
  readonly scaling: number;
  #scale: number;
  #merged = false;
  #removed = false;

  /** @internal use injectLora. */
  constructor(
    readonly name: string,
    /** The wrapped layers' module paths, in model order. */
    readonly paths: readonly string[],
    private readonly layers: readonly LoraTarget[],
    config: LoraConfig,
    scale: number,
  ) {
    this.rank = config.rank;
    this.alpha = config.alpha ?? config.rank;
    this.dropout = config.dropout ?? 0;
    this.scaling = this.alpha / this.rank;
    this.#scale = scale;
  }

  /** s: the adapter's weight (1 = as trained, 0 = off). */
  get scale(): number {
    return this.#scale;
  }
  /**
   * Sets s. A merged adapter is re-merged at the new scale (W − c·ΔW + c'·ΔW: float rounding
   * accumulates, so unmerge once instead of rescaling merged weights many times).
   */
  setScale(s: number): void {
    if (!Number.isFinite(s)) throw new RangeError(`LoRA scale must be a finite number, got ${s}`);
    this.#live();
    if (this.#merged) {
      this.unmerge();
      this.#scale = s;
      this.merge();
    } else {
      this.#scale = s;
    }
  }

  /** Whether ΔW is baked into the base weights. */
  get merged(): boolean {
    return this.#merged;
  }

  /** The A and B parameters with the model's names (`path.lora_A.NAME.weight`). */
  namedParameters(): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    this.layers.forEach((layer, i) => {
      const e = this.#entry(layer);
      out.push([`${this.paths[i]}.lora_A.${this.name}.weight`, e.down.weight], [`${this.paths[i]}.lora_B.${this.name}.weight`, e.up.weight]);
    });
    return out;
  }
  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }
  /** Scalars in A and B. */
  numParameters(): number {
    return this.parameters().reduce((n, p) => n + p.numel(), 0);
  }

  /**
   * The adapter alone, keyed `path.lora_A.weight` / `path.lora_B.weight` (PEFT's file names,
   * without the adapter name); the tensors themselves, not copies.
   */
  stateDict(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    this.layers.forEach((layer, i) => {
      const e = this.#entry(layer);
      out.set(`${this.paths[i]}.lora_A.weight`, e.down.weight);
      out.set(`${this.paths[i]}.lora_B.weight`, e.up.weight);
    });
    return out;
  }

  /**
   * Copies A and B from a state dict as stateDict() writes it; every key must be present, no
   * other, with the same shapes. A merged adapter is refused (its ΔW is in W).
   */
  loadStateDict(state: Map<string, Tensor> | Record<string, Tensor>): void {
    this.#live();
    if (this.#merged) throw new Error(`LoRA '${this.name}': unmerge before loading new weights`);
    const src = state instanceof Map ? state : new Map(Object.entries(state));
    const own = this.stateDict();
    const missing = [...own.keys()].filter((k) => !src.has(k));
    const unexpected = [...src.keys()].filter((k) => !own.has(k));
    if (missing.length > 0 || unexpected.length > 0) {
      const parts = [];
      if (missing.length) parts.push(`missing ${missing.slice(0, 4).join(', ')}${missing.length > 4 ? ', …' : ''}`);
      if (unexpected.length) parts.push(`unexpected ${unexpected.slice(0, 4).join(', ')}${unexpected.length > 4 ? ', …' : ''}`);
      throw new Error(`LoRA '${this.name}': the weights do not fit the wrapped layers (${parts.join('; ')})`);
    }
    for (const [k, t] of own) {
      const v = src.get(k)!;
      if (v.ndim !== t.ndim || v.shape.some((d, i) => d !== t.shape[i])) {
        throw new Error(`LoRA '${this.name}': ${k} has shape [${v.shape.join(', ')}] but the layer needs [${t.shape.join(', ')}]`);
      }
    }
    noGrad(() => {
      for (const [k, t] of own) t.copy_(src.get(k)!);
    });
  }

  /** W ← W + (α / r)·s·B A in every wrapped layer; forward then skips the adapter. */
  merge(): void {
    this.#live();
    if (this.#merged) return;
    this.#apply(1);
    this.#merged = true;
  }

  /** W ← W − (α / r)·s·B A: the base weights back, up to float rounding. */
  unmerge(): void {
    this.#live();
    if (!this.#merged) return;
    this.#apply(-1);
    this.#merged = false;
  }

  /** Takes the adapter off every layer (unmerging first); a layer without adapters is as before. */
  remove(): void {
    if (this.#removed) return;
    this.unmerge();
    this.#detach();
  }

  /**
   * Bakes ΔW into the base weights for good and takes the adapter off (PEFT's merge_and_unload):
   * the model is then a plain model with the adapted weights, its state dict the base's names.
   */
  mergeAndUnload(): void {
    this.merge();
    this.#detach();
  }

  #detach(): void {
    for (const layer of this.layers) {
      const host = hosts.get(layer)!;
      const e = host.entries.get(this.name)!;
      host.downs.delete(this.name);
      host.ups.delete(this.name);
      host.entries.delete(this.name);
      host.adapters.delete(this.name);
      for (const p of [e.down.weight, e.up.weight]) p.dispose();
      if (host.entries.size === 0) {
        layer.removeModule('lora_A');
        layer.removeModule('lora_B');
        if (host.ownForward !== undefined) Object.defineProperty(layer, 'forward', host.ownForward);
        else Reflect.deleteProperty(layer, 'forward');
        hosts.delete(layer);
      }
    }
    this.#removed = true;
  }

  #apply(sign: 1 | -1): void {
    const c = sign * this.scaling * this.#scale;
    noGrad(() => {
      for (const layer of this.layers) {
        const d = deltaWeight(layer, this.#entry(layer));
        layer.weight.add_(d, c);
        d.dispose();
      }
    });
  }

  #entry(layer: LoraTarget): Entry {
    const e = hosts.get(layer)?.entries.get(this.name);
    if (e === undefined) throw new Error(`LoRA '${this.name}' was removed`);
    return e;
  }

  #live(): void {
    if (this.#removed) throw new Error(`LoRA '${this.name}' was removed`);
  }
}

/**
 * The layers of a model that patterns select, with their paths, in model order.
 * @throws RangeError when a pattern selects no Linear/Conv1d/Conv2d.
 */
export function loraTargets(model: Module, targets: readonly (string | RegExp)[]): [string, LoraTarget][] {
  // The adapters' own A and B layers are never targets.
  const adapterLayers = new Set<Module>();
  for (const [, m] of model.namedModules()) {
    const host = hosts.get(m);
    if (host !== undefined) for (const e of host.entries.values()) adapterLayers.add(e.down).add(e.up);
  }
  const modules = model.namedModules().filter(([, m]) => !adapterLayers.has(m));
  const chosen = new Map<LoraTarget, string>();
  for (const t of targets) {
    const re = patternRegExp(t);
    let found = 0;
    for (const [p, m] of modules) {
      if (!re.test(p)) continue;
      const below = isLoraTarget(m) ? [[p, m] as const] : modules.filter(([q, l]) => q.startsWith(`${p}.`) && isLoraTarget(l));
      for (const [q, l] of below) {
        chosen.set(l as LoraTarget, q);
        found++;
      }
    }
    if (found === 0) throw new RangeError(`LoRA target '${String(t)}' matches no Linear, Conv1d or Conv2d in the model`);
  }
  return modules.filter(([, m]) => chosen.has(m as LoraTarget)).map(([p, m]) => [p, m as LoraTarget]);
}

/**
 * Wraps the layers `targets` selects with a new low-rank adapter. With B = 0 the model's output is
 * unchanged to the bit; with freezeBase (the default) only this adapter's A and B require grad.
 * @param model any module tree.
 * @param o targets, rank r, alpha α, dropout, name, scale s, freezeBase, generator.
 * @returns the adapter (its parameters for the optimizer, stateDict, merge, scale, remove).
 * @throws RangeError for a bad rank/alpha/dropout, a pattern that selects nothing, or a grouped conv;
 *   Error when a selected layer already has an adapter of this name.
 */
export function injectLora(model: Module, o: InjectLoraOptions): Lora {
  checkConfig(o);
  const name = o.name ?? 'default';
  if (!/^[A-Za-z0-9_-]+$/.test(name)) throw new RangeError(`LoRA name must be letters, digits, '_' or '-', got '${name}'`);
  const scale = o.scale ?? 1;
  if (!Number.isFinite(scale)) throw new RangeError(`LoRA scale must be a finite number, got ${scale}`);
  if (o.targets.length === 0) throw new RangeError('LoRA needs at least one target pattern');
  const selected = loraTargets(model, o.targets);
  for (const [p, layer] of selected) {
    if (hosts.get(layer)?.entries.has(name)) throw new Error(`${p} already has a LoRA adapter named '${name}'`);
  }
  // Build every adapter before attaching any, so a grouped conv leaves the model untouched.
  const made = selected.map(([, layer]) => makeAdapterLayers(layer, o.rank, o.generator));
  const lora = new Lora(name, selected.map(([p]) => p), selected.map(([, l]) => l), o, scale);
  selected.forEach(([, layer], i) => {
    const { down, up } = made[i]!;
    if (!(layer instanceof Linear)) (down as Conv2d).computeDtype = (up as Conv2d).computeDtype = layer.computeDtype;
    // The adapter lives where the layer does (A and B are made on the CPU).
    if (layer.weight.device !== 'cpu') {
      down.to(layer.weight.device);
      up.to(layer.weight.device);
    }
    down.train(layer.training);
    up.train(layer.training);
    const host = hostOf(layer);
    host.downs.set(name, down);
    host.ups.set(name, up);
    host.entries.set(name, { down, up, dropout: o.dropout ?? 0 });
    host.adapters.set(name, lora);
  });
  if (o.freezeBase ?? true) {
    const own = new Set(lora.parameters());
    for (const p of model.parameters()) if (!own.has(p) && p.requiresGrad) p.requiresGrad_(false);
  }
  return lora;
}

/** The adapters attached anywhere in a model, by name. */
export function loraAdapters(model: Module): Map<string, Lora> {
  const out = new Map<string, Lora>();
  for (const m of model.modules()) {
    const host = hosts.get(m);
    if (host !== undefined) for (const [n, l] of host.adapters) out.set(n, l);
  }
  return out;
}
