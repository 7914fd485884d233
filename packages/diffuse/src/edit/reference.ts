// Editing with a reference image's attention (K/V injection: the mutual self-attention of
// MasaCtrl, Cao et al. 2023, and the reference-only control of diffusers' community pipelines):
// a reference pass records every chosen layer's keys and values at every timestep; the edit pass,
// run with the same sampler and steps, attends to them instead of its own, so content and layout
// follow the edit's input while appearance follows the reference.
import { KvInjectionProcessor, KvRecordProcessor, KvStore, onLayers } from '../models/attn-processors-edit.js';
import { withAttnProcessors, type HasAttnProcessors } from './attn-scope.js';

/**
 * Runs `reference` recording K/V, then `edit` with those K/V injected; processors are restored
 * and the recorded tensors freed afterwards.
 * @param model the model both runs use; @param reference the reference pass (its result is
 *   dropped by the caller: dispose it inside); @param edit the edited pass, at the same timesteps.
 * @param where which layers (default all).
 * @returns what edit returns.
 */
export function withReferenceAttention<R>(
  model: HasAttnProcessors,
  reference: () => void,
  edit: () => R,
  where: (path: string) => boolean = () => true,
): R {
  const store = new KvStore();
  try {
    withAttnProcessors(model, onLayers(new KvRecordProcessor(store), where), reference);
    return withAttnProcessors(model, onLayers(new KvInjectionProcessor(store), where), edit);
  } finally {
    store.dispose();
  }
}
