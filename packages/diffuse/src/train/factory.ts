// Builds the diffusion process and the model a TrainConfig describes (one place for the mapping
// from JSON config names to the library's enums and options).
import { GaussianDiffusion } from '../diffusion/index.js';
import { betasFor } from './betas.js';
import { LossType, ModelMeanType, ModelVarType, type ModelFn } from '../diffusion/enums.js';
import { createModel, DiT, unetAsModelFn, type UNet } from '../models/index.js';
import { learnsSigma } from '../samplers/denoiser.js';
import { DIT_DEFAULTS, type DiffusionConfig, type TrainConfig } from './config.js';

const MEAN: Record<DiffusionConfig['meanType'], ModelMeanType> = {
  epsilon: ModelMeanType.EPSILON,
  start_x: ModelMeanType.START_X,
  v: ModelMeanType.VELOCITY,
  previous_x: ModelMeanType.PREVIOUS_X,
};
const VAR: Record<DiffusionConfig['varType'], ModelVarType> = {
  fixed_small: ModelVarType.FIXED_SMALL,
  fixed_large: ModelVarType.FIXED_LARGE,
  learned: ModelVarType.LEARNED,
  learned_range: ModelVarType.LEARNED_RANGE,
};
const LOSS: Record<DiffusionConfig['loss'], LossType> = {
  mse: LossType.MSE,
  rescaled_mse: LossType.RESCALED_MSE,
  kl: LossType.KL,
  rescaled_kl: LossType.RESCALED_KL,
  l1: LossType.L1,
  huber: LossType.HUBER,
};

export { betasFor } from './betas.js';

/** The GaussianDiffusion of a config (all T steps; samplers respace it themselves). */
export function createDiffusion(cfg: DiffusionConfig): GaussianDiffusion {
  return new GaussianDiffusion({
    betas: betasFor(cfg),
    modelMeanType: MEAN[cfg.meanType],
    modelVarType: VAR[cfg.varType],
    lossType: LOSS[cfg.loss],
    rescaleTimesteps: cfg.rescaleTimesteps,
    minSnrGamma: cfg.minSnrGamma > 0 ? cfg.minSnrGamma : undefined,
  });
}

export function meanTypeOf(cfg: DiffusionConfig): ModelMeanType {
  return MEAN[cfg.meanType];
}
export function varTypeOf(cfg: DiffusionConfig): ModelVarType {
  return VAR[cfg.varType];
}

/** A config that describes no buildable model (e.g. channels GroupNorm cannot split). */
export class ModelConfigError extends RangeError {
  override name = 'ModelConfigError';
}

/**
 * The UNet of a config: improved-diffusion's options, output doubled when σ is learned.
 * @throws ModelConfigError when the options describe no buildable model.
 */
export function createUNet(cfg: TrainConfig): UNet {
  try {
    return buildUNet(cfg);
  } catch (e) {
    if (e instanceof RangeError) throw new ModelConfigError(e.message);
    throw e;
  }
}

function buildUNet(cfg: TrainConfig): UNet {
  const m = cfg.model;
  return createModel({
    imageSize: m.imageSize,
    inChannels: m.channels,
    modelChannels: m.modelChannels,
    outChannels: m.channels,
    learnSigma: learnsSigma({ varType: VAR[cfg.diffusion.varType] }),
    numResBlocks: m.numResBlocks,
    attentionResolutions: m.attentionDs,
    convResample: true,
    nullClass: true,
    dropout: m.dropout,
    channelMult: m.channelMult,
    numClasses: m.numClasses > 0 ? m.numClasses : null,
    numHeads: m.numHeads,
    numHeadChannels: m.numHeadChannels,
    useScaleShiftNorm: m.useScaleShiftNorm,
    resblockUpdown: m.resblockUpdown,
    useCheckpoint: m.useCheckpoint,
    useNewAttentionOrder: m.useNewAttentionOrder ?? false,
  });
}

/** A denoising network: the UNet or the DiT (both take (x, t, { y | yWeights })). */
export type Backbone = UNet | DiT;

/**
 * The network a config's `model.backbone` names (the UNet when absent, as in checkpoints made
 * before DiT): every command builds its model here, so all of them take either.
 * @throws ModelConfigError when the options describe no buildable model.
 */
export function createBackbone(cfg: TrainConfig): Backbone {
  if (cfg.model.backbone !== 'dit') return createUNet(cfg);
  const m = cfg.model;
  try {
    return new DiT({
      inChannels: m.channels,
      outChannels: m.channels,
      learnSigma: learnsSigma({ varType: VAR[cfg.diffusion.varType] }),
      patchSize: m.patchSize ?? DIT_DEFAULTS.patchSize,
      hiddenSize: m.hiddenSize ?? DIT_DEFAULTS.hiddenSize,
      depth: m.depth ?? DIT_DEFAULTS.depth,
      mlpRatio: m.mlpRatio ?? DIT_DEFAULTS.mlpRatio,
      clip: m.frames !== undefined,
      temporalPatch: m.temporalPatch ?? 1,
      numHeads: m.numHeads,
      numClasses: m.numClasses > 0 ? m.numClasses : null,
      nullClass: true,
      useCheckpoint: m.useCheckpoint,
    });
  } catch (e) {
    if (e instanceof RangeError) throw new ModelConfigError(e.message);
    throw e;
  }
}

/**
 * The UNet of a run whose feature works on UNets only (ControlNet, LoRA targets).
 * @param net the network; @param what the feature, for the message.
 * @throws ModelConfigError for a DiT.
 */
export function requireUNet(net: Backbone, what: string): UNet {
  if (net instanceof DiT) throw new ModelConfigError(`${what} works on UNet checkpoints; this one is a DiT (--model dit)`);
  return net;
}

/** The network as the diffusion code calls a model. */
export function asModelFn(net: Backbone): ModelFn {
  if (net instanceof DiT) return (x, t, kwargs) => net.forward(x, t, { y: kwargs['y'], yWeights: kwargs['yWeights'] });
  return unetAsModelFn(net);
}
