// The optimizer base: parameter groups with per-group options, per-parameter state, and a
// state dict in PyTorch's layout ({ state, paramGroups }) so checkpoints carry over.
import { noGrad } from '../autograd.js';
import { isFloating } from '../dtype.js';
import { tidy } from '../memory.js';
import type { Tensor } from '../tensor.js';

/** A value of a param-group option; JSON-able, so a checkpoint can store it. */
export type OptionValue = number | boolean | number[];

/** Options every optimizer has. */
export interface BaseOptions {
  lr: number;
}

/** One parameter group: its tensors and the options they are optimized with. */
export type ParamGroup<O extends BaseOptions> = O & { params: Tensor[] };

/** A group as the user gives it: the tensors plus any options that differ from the defaults. */
export type ParamGroupInput<O extends BaseOptions> = Partial<O> & { params: Tensor[] };

/** What an optimizer accepts: a list of parameters, or a list of groups. */
export type ParamsArg<O extends BaseOptions> = Tensor[] | ParamGroupInput<O>[];

/**
 * Per-parameter state: tensors (moments, momentum buffers) and numbers (the step count).
 * Keys follow PyTorch (`exp_avg`, `momentum_buffer`, `step`) so state converted from a PyTorch
 * checkpoint loads unchanged.
 */
export type ParamState = Record<string, Tensor | number>;

/** Group options in a state dict, with the group's parameters as indices. */
export type ParamGroupState = Record<string, OptionValue> & { params: number[] };

/**
 * PyTorch's optimizer state dict: `state` maps a parameter's index (its position across all
 * groups, in order) to its state; `paramGroups` lists each group's options and parameter indices.
 */
export interface OptimizerStateDict {
  state: Map<number, ParamState>;
  paramGroups: ParamGroupState[];
}

function isParamList<O extends BaseOptions>(params: ParamsArg<O>): params is Tensor[] {
  return params.every((p) => !('params' in p));
}

function copyOption(v: OptionValue): OptionValue {
  return Array.isArray(v) ? v.slice() : v;
}

/**
 * Options filled in from defaults; keys the caller left undefined keep the default.
 * @param defaults complete options.
 * @param options the caller's overrides.
 */
export function withDefaults<O extends object>(defaults: O, options: Partial<O>): O {
  const out = { ...defaults };
  for (const [k, v] of Object.entries(options)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}

export abstract class Optimizer<O extends BaseOptions> {
  /** The options a group gets when it does not set its own. */
  readonly defaults: Readonly<O>;
  readonly paramGroups: ParamGroup<O>[] = [];
  /** State per parameter tensor, created lazily at its first step. */
  readonly state = new Map<Tensor, ParamState>();

  /**
   * @param params the tensors to optimize (leaf tensors with requiresGrad), or groups of them
   *   with their own options.
   * @param defaults complete options for groups that do not override them.
   */
  constructor(params: ParamsArg<O>, defaults: O) {
    if (params.length === 0) throw new Error('optimizer got an empty parameter list');
    this.defaults = { ...defaults };
    const groups: ParamGroupInput<O>[] = isParamList(params) ? [{ params } as ParamGroupInput<O>] : params;
    for (const g of groups) this.addParamGroup(g);
  }

  /**
   * Adds a group of parameters (for example layers unfrozen during training).
   * @param group the tensors plus options that override the defaults.
   */
  addParamGroup(group: ParamGroupInput<O>): void {
    const { params, ...options } = group;
    const merged: Record<string, unknown> = withDefaults<Record<string, unknown>>({ ...this.defaults }, options);
    for (const [k, v] of Object.entries(merged)) merged[k] = copyOption(v as OptionValue);
    const full = { ...merged, params: [...params] } as unknown as ParamGroup<O>;
    if (full.params.length === 0) throw new Error('optimizer: a parameter group has no parameters');
    const seen = new Set(this.paramGroups.flatMap((g) => g.params));
    for (const p of full.params) {
      if (seen.has(p)) throw new Error('optimizer: some parameters appear in more than one parameter group');
      if (!p.isLeaf) throw new Error("optimizer: can't optimize a non-leaf Tensor");
      seen.add(p);
    }
    this.validateOptions(full);
    this.paramGroups.push(full);
  }

  /** Throws a RangeError for invalid options (called for each group and on load). */
  protected validateOptions(options: O): void {
    if (!(options.lr >= 0)) throw new RangeError(`Invalid learning rate: ${options.lr}`);
  }

  /**
   * Updates one parameter in place from its gradient. Runs under noGrad inside a tidy scope:
   * temporaries are disposed on return; state tensors must be created with `.keep()`.
   * @param param the parameter (updated in place).
   * @param grad a fresh handle on param's gradient.
   * @param state this parameter's state record (mutate it to keep state).
   * @param group the options of the parameter's group.
   */
  protected abstract updateParam(param: Tensor, grad: Tensor, state: ParamState, group: ParamGroup<O>): void;

  /** One optimization step over every parameter that has a gradient (others are skipped). */
  step(): void {
    noGrad(() => {
      for (const group of this.paramGroups) {
        for (const param of group.params) {
          tidy(() => {
            const grad = param.grad;
            if (grad === null) return;
            let state = this.state.get(param);
            if (state === undefined) {
              state = {};
              this.state.set(param, state);
            }
            this.updateParam(param, grad, state, group);
          });
        }
      }
    });
  }

  /**
   * Clears the gradients of every parameter.
   * @param setToNone drop the gradient (default, as PyTorch 2) instead of filling it with zeros.
   */
  zeroGrad(setToNone = true): void {
    for (const group of this.paramGroups) {
      for (const p of group.params) {
        if (setToNone) {
          p.zeroGrad();
        } else {
          const g = p.grad;
          if (g !== null) noGrad(() => g.zero_());
          g?.dispose();
        }
      }
    }
  }

  /**
   * The optimizer state in PyTorch's layout. Tensors are fresh handles on the optimizer's own
   * storage (no copy, as PyTorch): dispose them when done, and save them before the next step.
   * @returns `{ state: Map<paramIndex, state>, paramGroups: [{ lr, ..., params: [indices] }] }`.
   */
  stateDict(): OptimizerStateDict {
    const index = new Map<Tensor, number>();
    const paramGroups = this.paramGroups.map((group) => {
      const { params, ...options } = group;
      const out: Record<string, OptionValue> = {};
      for (const [k, v] of Object.entries(options)) out[k] = copyOption(v as OptionValue);
      const ids = params.map((p) => {
        if (!index.has(p)) index.set(p, index.size);
        return index.get(p)!;
      });
      return { ...out, params: ids } as ParamGroupState;
    });
    const state = new Map<number, ParamState>();
    for (const [p, s] of this.state) {
      const i = index.get(p);
      if (i === undefined) continue;
      const copy: ParamState = {};
      for (const [k, v] of Object.entries(s)) copy[k] = typeof v === 'number' ? v : v.detach();
      state.set(i, copy);
    }
    return { state, paramGroups };
  }

  /**
   * Restores state saved by stateDict() (ours or PyTorch's, converted). Tensors are copied (the
   * caller keeps ownership of the dict), floating-point state is cast to its parameter's dtype
   * and moved to its device (PyTorch's rule); a tensor `step` becomes a number.
   * @param stateDict groups must match this optimizer's in count and sizes.
   */
  loadStateDict(stateDict: OptimizerStateDict): void {
    const saved = stateDict.paramGroups;
    if (saved.length !== this.paramGroups.length) {
      throw new Error(`loadStateDict: the state dict has ${saved.length} parameter groups, the optimizer has ${this.paramGroups.length}`);
    }
    const byIndex = new Map<number, Tensor>();
    saved.forEach((g, gi) => {
      const ours = this.paramGroups[gi]!.params;
      if (g.params.length !== ours.length) {
        throw new Error(`loadStateDict: parameter group ${gi} has ${g.params.length} parameters in the state dict, ${ours.length} in the optimizer`);
      }
      g.params.forEach((id, k) => byIndex.set(id, ours[k]!));
    });
    const newGroups = saved.map((g, gi) => {
      const { params: _ids, ...options } = g;
      const group = { ...this.paramGroups[gi]!, ...options, params: this.paramGroups[gi]!.params } as ParamGroup<O>;
      this.validateOptions(group);
      return group;
    });
    const newState = new Map<Tensor, ParamState>();
    try {
      for (const [id, s] of stateDict.state) {
        const param = byIndex.get(id);
        if (param === undefined) throw new Error(`loadStateDict: state for parameter index ${id} matches no parameter`);
        newState.set(param, castState(param, s, id));
      }
    } catch (e) {
      for (const s of newState.values()) disposeState(s);
      throw e;
    }
    this.disposeState();
    newGroups.forEach((g, gi) => (this.paramGroups[gi] = g));
    for (const [p, s] of newState) this.state.set(p, s);
  }

  /** Releases every state tensor (the optimizer can still step: state restarts from zero). */
  dispose(): void {
    this.disposeState();
  }

  private disposeState(): void {
    for (const s of this.state.values()) disposeState(s);
    this.state.clear();
  }
}

function disposeState(s: ParamState): void {
  for (const v of Object.values(s)) if (typeof v !== 'number') v.dispose();
}

/** Copies one parameter's saved state onto its parameter's dtype and device. */
function castState(param: Tensor, saved: ParamState, id: number): ParamState {
  const out: ParamState = {};
  try {
    for (const [key, v] of Object.entries(saved)) {
      if (typeof v === 'number') {
        out[key] = v;
      } else if (key === 'step') {
        // PyTorch 1.12+ keeps the step as a float tensor; we keep a number.
        out[key] = v.item();
      } else {
        if (v.numel() !== 1 && v.shape.join() !== param.shape.join()) {
          throw new Error(`loadStateDict: state '${key}' of parameter ${id} has shape [${v.shape}], the parameter [${param.shape}]`);
        }
        const dtype = isFloating(param.dtype) ? param.dtype : v.dtype;
        out[key] = v.to({ dtype, device: param.device }, { copy: true }).keep();
      }
    }
  } catch (e) {
    disposeState(out);
    throw e;
  }
  return out;
}

/**
 * A state tensor, or undefined when absent.
 * @throws when the entry holds a number where a tensor belongs.
 */
export function stateTensor(state: ParamState, key: string): Tensor | undefined {
  const v = state[key];
  if (typeof v === 'number') throw new TypeError(`optimizer state '${key}' should be a tensor, got a number`);
  return v;
}
