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
