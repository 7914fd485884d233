// Training: configuration and presets, the loop, EMA, checkpoints.
export * from './config.js';
export { EMA } from './ema.js';
export { train, learningRate, TrainingError, type BatchSource, type LogRow, type TrainEvents, type TrainOptions, type TrainResult } from './trainer.js';
export {
  saveCheckpoint, loadCheckpoint, resolveCheckpointDir, readTrainState, listCheckpoints, stepDirName, CheckpointError, CHECKPOINT_FORMAT,
  type CheckpointContents, type TrainState, type LoadOptions, type SaveOptions,
} from './checkpoint.js';
export { createDiffusion, createUNet, createBackbone, requireUNet, type Backbone, asModelFn, betasFor, ModelConfigError } from './factory.js';
export { RunningMeans } from './metrics.js';
export { AUTOENCODER_PRESETS, defaultAutoencoderTrainConfig, resolveAutoencoderConfig, isAutoencoderConfig, type AutoencoderTrainConfig } from './autoencoder-config.js';
export { trainAutoencoder, scaleFactorOf, type AutoencoderTrainOptions, type AutoencoderState } from './autoencoder-trainer.js';
export { trainPrior, isPriorConfig, type PriorTrainConfig, type PriorTrainOptions } from './prior-trainer.js';
export { trainLoop, type LoopConfig, type LoopEvents, type LoopOptions } from './simple-loop.js';
