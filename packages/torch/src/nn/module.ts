// Module: the base of every layer, as torch.nn.Module — parameters, buffers and children
// registered by name, so state dicts use PyTorch's dotted names ('blocks.0.conv.weight').
import { noGrad } from '../autograd.js';
import type { Device, DType } from '../dtype.js';
import { isFloating } from '../dtype.js';
import { Tensor } from '../tensor.js';

export type StateDict = Map<string, Tensor>;

export interface LoadResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

export abstract class Module {
  /** Training mode (dropout active); switch with train() / eval(). */
  training = true;
  readonly #params = new Map<string, Tensor | null>();
  readonly #buffers = new Map<string, Tensor | null>();
  readonly #nonPersistent = new Set<string>();
  readonly #children = new Map<string, Module>();

  /**
   * Registers a parameter: it becomes a requires-grad leaf, is kept alive past tidy() scopes and
   * appears in parameters() and the state dict. Pass null for an absent optional parameter.
   */
  protected registerParameter(name: string, value: Tensor | null): Tensor {
    if (value !== null) {
      value.keep();
      if (!value.requiresGrad && isFloating(value.dtype)) value.requiresGrad_(true);
    }
    this.#params.set(name, value);
    return value as Tensor;
  }

  /** Registers a buffer (state that is not trained, e.g. running stats or fixed tables). */
  protected registerBuffer(name: string, value: Tensor | null, persistent = true): Tensor {
    value?.keep();
    this.#buffers.set(name, value);
    if (!persistent) this.#nonPersistent.add(name);
    return value as Tensor;
  }

  /** Registers a child module under name. */
  protected registerModule<M extends Module>(name: string, module: M): M {
    this.#children.set(name, module);
    return module;
  }

  /**
   * Adds a child from outside the module (PyTorch's add_module): adapters such as LoRA attach
   * their parameters to the layer they change, so the layer's own names stay as they were.
   * @throws Error when the name is already taken.
   */
  addModule<M extends Module>(name: string, module: M): M {
    if (this.#children.has(name) || this.#params.has(name) || this.#buffers.has(name)) throw new Error(`addModule: '${name}' is already in use`);
    return this.registerModule(name, module);
  }

  /** Removes a child added earlier (Python's `del module.name`); returns whether there was one. */
  removeModule(name: string): boolean {
    return this.#children.delete(name);
  }

  /** Direct children, in registration order. */
  namedChildren(): [string, Module][] {
    return [...this.#children.entries()];
  }
  children(): Module[] {
    return [...this.#children.values()];
  }

  /**
   * This module and every descendant with its dotted name ('' for this one), in pre-order. A
   * module registered twice (shared) is listed once, under its first name, as PyTorch.
   */
  namedModules(prefix = ''): [string, Module][] {
    const seen = new Set<Module>();
    return this.#walk(prefix).filter(([, m]) => {
      if (seen.has(m)) return false;
      seen.add(m);
      return true;
    });
  }

  /** Pre-order walk without de-duplication (state dicts list shared modules under every name). */
  #walk(prefix: string): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [name, child] of this.#children) {
      out.push(...child.#walk(prefix === '' ? name : `${prefix}.${name}`));
    }
    return out;
  }
  modules(): Module[] {
    return this.namedModules().map(([, m]) => m);
  }

  /** Every parameter with its dotted name; a shared tensor is listed once (so optimizers step it once). */
  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const seen = new Set<Tensor>();
    for (const [path, m] of this.namedModules(prefix)) {
      for (const [name, p] of m.#params) {
        if (p === null || seen.has(p)) continue;
        seen.add(p);
        out.push([path === '' ? name : `${path}.${name}`, p]);
      }
    }
    return out;
  }
  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }

  namedBuffers(prefix = '', persistentOnly = false): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const seen = new Set<Tensor>();
    for (const [path, m] of this.namedModules(prefix)) {
      for (const [name, b] of m.#buffers) {
        if (b === null || seen.has(b) || (persistentOnly && m.#nonPersistent.has(name))) continue;
        seen.add(b);
        out.push([path === '' ? name : `${path}.${name}`, b]);
      }
    }
    return out;
  }
  buffers(): Tensor[] {
    return this.namedBuffers().map(([, b]) => b);
  }

  /** Number of scalar parameters (trainable weights). */
  numParameters(): number {
    return this.parameters().reduce((n, p) => n + p.numel(), 0);
  }

  train(on = true): this {
    for (const m of this.modules()) m.training = on;
    return this;
  }
  eval(): this {
    return this.train(false);
  }

  /** Drops every parameter's gradient (PyTorch's zero_grad(set_to_none=True)). */
  zeroGrad(): void {
    for (const p of this.parameters()) p.zeroGrad();
  }

  /**
   * Moves or casts every parameter and buffer in place: the Tensor objects stay the same
   * (their data is swapped, as Python's `param.data = …`), so optimizers created earlier still hold them.
   * Only floating-point tensors change dtype, as PyTorch.
   */
  to(target: DType | Device | { dtype?: DType; device?: Device }): this {
    const spec = typeof target === 'string' ? target : target;
    noGrad(() => {
      for (const t of [...this.parameters(), ...this.buffers()]) {
        let conv: Tensor;
        if (typeof spec === 'object') {
          conv = t.to({ device: spec.device, dtype: spec.dtype !== undefined && isFloating(t.dtype) ? spec.dtype : undefined });
        } else if (isFloating(t.dtype) || !['float16', 'float32', 'float64', 'bfloat16'].includes(spec)) {
          conv = t.to(spec);
        } else {
          continue;
        }
        t.setData(conv);
        conv.dispose();
      }
    });
    return this;
  }

  /**
   * Every parameter and persistent buffer by dotted name (the tensors themselves, not copies), in
   * PyTorch's order: each module's own parameters, then its own buffers, then its children's.
   */
  stateDict(): StateDict {
    const out: StateDict = new Map();
    for (const [path, m] of this.#walk('')) {
      const key = (name: string): string => (path === '' ? name : `${path}.${name}`);
      for (const [name, p] of m.#params) if (p !== null) out.set(key(name), p);
      for (const [name, b] of m.#buffers) if (b !== null && !m.#nonPersistent.has(name)) out.set(key(name), b);
    }
    return out;
  }

  /**
   * Copies values from a state dict into this module's tensors. With strict (the default) any
   * missing or unexpected key is an error; shapes must always match.
   */
  loadStateDict(state: StateDict | Record<string, Tensor>, strict = true): LoadResult {
    const src = state instanceof Map ? state : new Map(Object.entries(state));
    const own = this.stateDict();
    const missingKeys = [...own.keys()].filter((k) => !src.has(k));
    const unexpectedKeys = [...src.keys()].filter((k) => !own.has(k));
    if (strict && (missingKeys.length > 0 || unexpectedKeys.length > 0)) {
      const parts = [];
      if (missingKeys.length) parts.push(`missing keys: ${missingKeys.slice(0, 8).join(', ')}${missingKeys.length > 8 ? ', …' : ''}`);
      if (unexpectedKeys.length) parts.push(`unexpected keys: ${unexpectedKeys.slice(0, 8).join(', ')}${unexpectedKeys.length > 8 ? ', …' : ''}`);
      throw new Error(`loadStateDict: ${parts.join('; ')}`);
    }
    for (const [k, target] of own) {
      const v = src.get(k);
      if (v === undefined) continue;
      const ts = target.shape;
      const vs = v.shape;
      if (ts.length !== vs.length || ts.some((d, i) => d !== vs[i])) {
        throw new Error(`loadStateDict: ${k} has shape [${vs.join(', ')}] but the module expects [${ts.join(', ')}]`);
      }
    }
    noGrad(() => {
      for (const [k, target] of own) {
        const v = src.get(k);
        if (v !== undefined) target.copy_(v);
      }
    });
    return { missingKeys, unexpectedKeys };
  }

  /** Runs fn for every module (this one first), as Module.apply. */
  apply(fn: (m: Module) => void): this {
    for (const m of this.modules()) fn(m);
    return this;
  }
}
