// Training a first-stage autoencoder: the loss of models/autoencoder.ts in train/simple-loop.ts,
// with the scale factor measured on training images at each checkpoint.
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';

import { Autoencoder } from '../models/autoencoder.js';
import { measureScaleFactor } from '../models/autoencoder-kl.js';
import { encodeScaled } from '../pipeline/autoencoder.js';
import { discConfigOf, type AutoencoderTrainConfig } from './autoencoder-config.js';
import type { CheckpointContents, TrainState } from './checkpoint.js';
import { PatchGanTraining } from './patch-gan.js';
import { trainLoop, type LoopEvents } from './simple-loop.js';
import type { BatchSource, TrainResult } from './trainer.js';

export interface AutoencoderTrainOptions {
  config: AutoencoderTrainConfig;
  checkpointRoot: string;
  data: BatchSource;
  /** Images (N, C, H, W) in [−1, 1] whose latents measure the scale factor at each save. */
  scaleImages: Tensor;
  resume?: CheckpointContents;
  events?: LoopEvents<Autoencoder>;
  shouldStop?: () => boolean;
}

/** An autoencoder checkpoint's state.json: a TrainState whose config is the autoencoder run's. */
export type AutoencoderState = Omit<TrainState, 'config'> & { config: AutoencoderTrainConfig };

/**
 * The scale factor of an autoencoder: 1/std of the latents of `images` (posterior means, or
 * quantized codes), encoded in eval mode in batches.
 * @param ae the autoencoder. @param images (N, C, H, W) in [−1, 1].
 */
export function scaleFactorOf(ae: Autoencoder, images: Tensor): number {
  const wasTraining = ae.training;
  ae.eval();
  try {
    return torch.tidy(() => measureScaleFactor(encodeScaled(ae, images, 1))); // over (N, c, h, w)
  } finally {
    if (wasTraining) ae.train();
  }
}

/**
 * Trains an autoencoder; saves checkpoints under checkpointRoot.
 * @throws CheckpointError when the resume checkpoint does not fit its config.
 */
export async function trainAutoencoder(opts: AutoencoderTrainOptions): Promise<TrainResult> {
  const cfg = structuredClone(opts.config);
  if (opts.resume === undefined) torch.manualSeed(cfg.run.seed);
  const ae = torch.tidy(() => new Autoencoder(cfg.autoencoder));
  const disc = discConfigOf(cfg);
  const gan = disc.weight > 0 ? new PatchGanTraining(ae, disc, cfg.optim.lr, cfg.run.seed) : undefined;
  try {
    return await trainLoop({
      model: ae,
      config: cfg,
      lossOf(x, _y, step) {
        const l = ae.lossOf(x);
        const logs: Record<string, number> = { rec: l.rec.item() };
        if (l.kl !== undefined) logs.kl = l.kl.item();
        if (l.vq !== undefined) logs.vq = l.vq.item();
        if (l.perplexity !== undefined) logs.perplexity = l.perplexity;
        if (l.used !== undefined) logs.codes_used = l.used;
        const loss = gan?.active(step) ? gan.generatorStep(l.loss, l.rec, l.xrec, logs) : l.loss;
        return { loss, logs };
      },
      companion: gan,
      stateConfig() {
        cfg.autoencoder.scaleFactor = scaleFactorOf(ae, opts.scaleImages);
        return structuredClone(cfg);
      },
      checkpointRoot: opts.checkpointRoot,
      data: opts.data,
      resume: opts.resume,
      events: opts.events,
      shouldStop: opts.shouldStop,
    });
  } finally {
    gan?.dispose();
  }
}
