// An optimizer state dict split in two for checkpoints: its tensors (for a safetensors file) and
// everything else (plain JSON).
import type { Tensor } from '../tensor.js';
import type { OptimizerStateDict, ParamGroupState, ParamState } from './optimizer.js';

/** The JSON half of a flattened state dict. */
export interface OptimizerStateMeta {
  /** Each group's options and parameter indices, as in the state dict. */
  paramGroups: ParamGroupState[];
  /** Per parameter index, its number-valued state (e.g. `{ step: 10 }`). */
  state: Record<string, Record<string, number>>;
}

/** A state dict as `{ tensors, meta }`: tensors keyed `<prefix>state.<index>.<name>`. */
export interface FlatOptimizerState {
  tensors: Record<string, Tensor>;
  meta: OptimizerStateMeta;
}

/**
 * Splits a state dict into tensors (for safetensors) and JSON-able metadata.
 * @param stateDict from `optimizer.stateDict()`; its tensors are shared, not copied.
 * @param prefix put before every tensor key, to share a file with other tensors
 *   (e.g. 'optimizer.').
 * @returns `{ tensors, meta }`; `JSON.stringify(meta)` round-trips.
 */
export function flattenStateDict(stateDict: OptimizerStateDict, prefix = ''): FlatOptimizerState {
  const tensors: Record<string, Tensor> = {};
  const state: Record<string, Record<string, number>> = {};
  for (const [index, s] of stateDict.state) {
    const numbers: Record<string, number> = {};
    for (const [name, v] of Object.entries(s)) {
      if (typeof v === 'number') numbers[name] = v;
      else tensors[`${prefix}state.${index}.${name}`] = v;
    }
    state[String(index)] = numbers;
  }
  const paramGroups = stateDict.paramGroups.map((g) => structuredClone(g));
  return { tensors, meta: { paramGroups, state } };
}

/**
 * Rebuilds a state dict from `flattenStateDict`'s output (tensors are shared, not copied; keys
 * without the prefix are ignored, so the file may hold other tensors).
 * @param tensors tensors keyed `<prefix>state.<index>.<name>`.
 * @param meta the JSON half.
 * @param prefix the prefix used when flattening.
 * @returns a state dict for `optimizer.loadStateDict`.
 */
export function unflattenStateDict(tensors: Record<string, Tensor>, meta: OptimizerStateMeta, prefix = ''): OptimizerStateDict {
  if (!Array.isArray(meta?.paramGroups) || typeof meta.state !== 'object' || meta.state === null) {
    throw new Error('unflattenStateDict: meta must have paramGroups (an array) and state (an object)');
  }
  const state = new Map<number, ParamState>();
  const entry = (index: number): ParamState => {
    let s = state.get(index);
    if (s === undefined) state.set(index, (s = {}));
    return s;
  };
  for (const [key, numbers] of Object.entries(meta.state)) {
    const s = entry(parseIndex(key, key));
    for (const [name, v] of Object.entries(numbers)) {
      if (typeof v !== 'number') throw new Error(`unflattenStateDict: state ${key}.${name} should be a number`);
      s[name] = v;
    }
  }
  const head = `${prefix}state.`;
  for (const [key, t] of Object.entries(tensors)) {
    if (!key.startsWith(head)) continue;
    const rest = key.slice(head.length);
    const dot = rest.indexOf('.');
    if (dot <= 0 || dot === rest.length - 1) throw new Error(`unflattenStateDict: tensor key '${key}' is not ${head}<index>.<name>`);
    entry(parseIndex(rest.slice(0, dot), key))[rest.slice(dot + 1)] = t;
  }
  const paramGroups = meta.paramGroups.map((g) => structuredClone(g));
  return { state, paramGroups };
}

function parseIndex(s: string, key: string): number {
  const i = Number(s);
  if (!/^\d+$/.test(s) || !Number.isSafeInteger(i)) throw new Error(`unflattenStateDict: '${key}' has no valid parameter index`);
  return i;
}
