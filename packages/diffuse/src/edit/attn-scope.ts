// Running an edit with some attention processors in place, and the previous ones back afterwards.
import type { AttnProcessor, AttnProcessorSetting } from '../models/attn-processor.js';

/** A model whose attention layers take processors (the UNet). */
export interface HasAttnProcessors {
  readonly attnProcessors: Map<string, AttnProcessor>;
  setAttnProcessor(setting: AttnProcessorSetting): void;
}

/**
 * Runs fn with the model's attention processors set as asked, restoring them afterwards (also
 * when fn throws).
 * @param model the model; @param setting the processors (see UNet.setAttnProcessor); @param fn the work.
 * @returns what fn returns.
 */
export function withAttnProcessors<R>(model: HasAttnProcessors, setting: AttnProcessorSetting, fn: () => R): R {
  const saved = model.attnProcessors;
  model.setAttnProcessor(setting);
  try {
    return fn();
  } finally {
    model.setAttnProcessor(saved);
  }
}
