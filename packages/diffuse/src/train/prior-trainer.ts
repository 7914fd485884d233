// Training the PixelCNN prior of a VQ-VAE (van den Oord et al. 2017, section 3.2): the code
// indices of the training images under the frozen autoencoder are the data, −log p(indices)
// the loss, in train/simple-loop.ts.
import * as torch from '@diffuse/torch';

import { GatedPixelCNN, type PixelCNNOptions } from '../models/pixelcnn.js';
import type { CheckpointContents } from './checkpoint.js';
import type { LatentAutoencoderConfig } from './config.js';
import { trainLoop, type LoopConfig, type LoopEvents } from './simple-loop.js';
import type { BatchSource, TrainResult } from './trainer.js';

/** A prior run's configuration (stored in each checkpoint). */
export interface PriorTrainConfig extends LoopConfig {
  kind: 'prior';
  /** The frozen VQ autoencoder whose code indices the prior models. */
  autoencoder: LatentAutoencoderConfig;
  prior: Omit<PixelCNNOptions, 'generator'>;
  /** The latent grid side h (= w). */
  latentSize: number;
  run: LoopConfig['run'] & { data: string; limit: number; seed: number; classCond: boolean };
}

/** Whether a checkpoint's config is a prior's. */
export function isPriorConfig(c: unknown): c is PriorTrainConfig {
  return typeof c === 'object' && c !== null && (c as { kind?: unknown }).kind === 'prior';
}

export interface PriorTrainOptions {
  config: PriorTrainConfig;
  checkpointRoot: string;
  /** Batches of code indices as floats (B, 1, h, w) and labels (B,). */
  data: BatchSource;
  resume?: CheckpointContents;
  events?: LoopEvents<GatedPixelCNN>;
  shouldStop?: () => boolean;
}

/** Trains the prior; saves checkpoints under checkpointRoot. */
export async function trainPrior(o: PriorTrainOptions): Promise<TrainResult> {
  const cfg = o.config;
  if (o.resume === undefined) torch.manualSeed(cfg.run.seed);
  const net = torch.tidy(() => new GatedPixelCNN(cfg.prior));
  return trainLoop({
    model: net,
    config: cfg,
    lossOf(x, y) {
      const indices = x.squeeze(1).to('int64'); // (B, h, w)
      const loss = net.loss(indices, cfg.run.classCond ? y : undefined);
      // bits per code: the prior's cross-entropy in log2.
      return { loss, logs: { bits_per_code: loss.item() / Math.LN2 } };
    },
    stateConfig: () => structuredClone(cfg),
    checkpointRoot: o.checkpointRoot,
    data: o.data,
    resume: o.resume,
    events: o.events,
    shouldStop: o.shouldStop,
  });
}
