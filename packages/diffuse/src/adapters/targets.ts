// Which UNet layers a LoRA wraps, by name of a group of layers ('attn', 'res', …) or by
// module-path pattern. Groups are resolved from the blocks' types, so they hold for any UNet
// config (every UNet has attention in its middle block; ref-28 also at 14×14).
import { nn } from '@diffuse/torch';

import { AttentionBlock } from '../models/attention.js';
import { ResBlock } from '../models/res-block.js';

/** Named groups of layers. */
export const LORA_TARGET_GROUPS = {
  /** The attention blocks' qkv and proj_out projections (1×1 Conv1d). */
  attn: 'attention qkv and output projections',
  /** The res blocks' 3×3 convolutions and 1×1/3×3 skip convolutions (Conv2d). */
  res: 'res-block convolutions',
  /** The res blocks' timestep-embedding projections (Linear). */
  emb: 'res-block embedding projections',
  /** Every Linear, Conv1d and Conv2d of the model. */
  all: 'every Linear and convolution',
} as const;

export type LoraTargetGroup = keyof typeof LORA_TARGET_GROUPS;

export interface ResolvedTargets {
  /** The wrapped layers' module paths, in model order, each once. */
  paths: string[];
  /** Groups asked for that select nothing in this model (e.g. 'attn' without attention blocks). */
  empty: string[];
}

function isGroup(t: string): t is LoraTargetGroup {
  return Object.prototype.hasOwnProperty.call(LORA_TARGET_GROUPS, t);
}

/** The layers a group selects, by path. */
function groupPaths(model: nn.Module, group: LoraTargetGroup): string[] {
  const out: string[] = [];
  for (const [p, m] of model.namedModules()) {
    if (group === 'all' && nn.isLoraTarget(m) && !/\.lora_[AB]\./.test(p)) out.push(p);
    if (group === 'attn' && m instanceof AttentionBlock) out.push(`${p}.qkv`, `${p}.proj_out`);
    if (group === 'emb' && m instanceof ResBlock) out.push(`${p}.emb_layers.1`);
    if (group === 'res' && m instanceof ResBlock) {
      out.push(`${p}.in_layers.2`, `${p}.out_layers.3`);
      if (nn.isLoraTarget(m.skipConnection as nn.Module)) out.push(`${p}.skip_connection`);
    }
  }
  return out;
}

/**
 * Resolves target names to layer paths.
 * @param model the UNet (or any model: patterns work on every module tree).
 * @param targets group names (see LORA_TARGET_GROUPS) or module-path patterns as nn.injectLora
 *   takes them ('qkv', 'input_blocks.*.0.in_layers.2').
 * @returns the paths, and the groups that selected nothing.
 * @throws RangeError when nothing at all is selected, or a pattern selects nothing.
 */
export function resolveLoraTargets(model: nn.Module, targets: readonly string[]): ResolvedTargets {
  const chosen = new Set<string>();
  const empty: string[] = [];
  for (const t of targets) {
    const paths = isGroup(t) ? groupPaths(model, t) : nn.loraTargets(model, [t]).map(([p]) => p);
    if (paths.length === 0) empty.push(t);
    for (const p of paths) chosen.add(p);
  }
  if (chosen.size === 0) {
    throw new RangeError(`LoRA targets ${targets.join(',')} select no layer of this model (groups: ${Object.keys(LORA_TARGET_GROUPS).join(', ')}, or module-path patterns)`);
  }
  const order = model.namedModules().map(([p]) => p);
  return { paths: order.filter((p) => chosen.has(p)), empty };
}

/** Patterns that select exactly these paths (for nn.injectLora). */
export function exactPaths(paths: readonly string[]): RegExp[] {
  return paths.map((p) => new RegExp(p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
}
