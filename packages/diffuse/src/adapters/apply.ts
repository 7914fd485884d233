// Putting saved LoRAs onto a loaded base model: refuse one made for other weights, wrap the
// layers it names, load A and B, and set its scale. Several may be applied, each under its own name.
import * as torch from '@diffuse/torch';
import { nn } from '@diffuse/torch';

import { firstLine } from '../io/errors.js';
import { CheckpointError } from '../train/checkpoint.js';
import { baseModelHash, readLoraFile, type LoraFile } from './lora-file.js';
import { exactPaths } from './targets.js';

/** A LoRA to apply: its file (or fine-tune folder) and its scale s. */
export interface LoraSpec {
  path: string;
  scale: number;
}

export interface AppliedLora {
  lora: nn.Lora;
  file: LoraFile['file'];
  meta: LoraFile['meta'];
}

/**
 * Applies LoRAs to a model loaded with its base weights (before any is applied).
 * @param model the base model (its weights decide the hash every LoRA must carry).
 * @param specs files and scales; adapter names are 'lora0', 'lora1', ….
 * @returns the applied adapters, in order.
 * @throws CheckpointError (one line) for a LoRA of another base, or one that does not fit the model.
 */
export function applyLoras(model: nn.Module, specs: readonly LoraSpec[]): AppliedLora[] {
  if (specs.length === 0) return [];
  const hash = baseModelHash(model);
  const applied: AppliedLora[] = [];
  try {
    specs.forEach((s, i) => {
      const f = readLoraFile(s.path);
      try {
        if (f.meta.baseHash !== hash) {
          throw new CheckpointError(`${f.file}: this LoRA was fine-tuned from another base model (${f.meta.base}, weights ${f.meta.baseHash}; these weights are ${hash}); apply it to the checkpoint it was made from`);
        }
        let lora: nn.Lora;
        try {
          lora = nn.injectLora(model, { targets: exactPaths(f.meta.paths), rank: f.meta.rank, alpha: f.meta.alpha, name: `lora${i}`, scale: s.scale, freezeBase: false });
        } catch (e) {
          throw new CheckpointError(`${f.file}: its layers do not exist in this model (${firstLine(e)})`);
        }
        applied.push({ lora, file: f.file, meta: f.meta });
        try {
          lora.loadStateDict(f.tensors);
        } catch (e) {
          throw new CheckpointError(`${f.file}: ${firstLine(e)}`);
        }
      } finally {
        torch.dispose(f.tensors);
      }
    });
  } catch (e) {
    for (const a of applied) a.lora.remove();
    throw e;
  }
  return applied;
}
