// Denoising networks.
export { UNet, timestepAndLabelEmbedding, type UNetOptions, type UNetKwargs, type ControlResiduals } from './unet.js';
export { unetConfigDefaults, ref28Config, resolveUNetConfig, channelMultForImageSize, attentionDownsampleRates, type UNetConfig } from './config.js';
export { createModel, unetAsModelFn } from './create-model.js';
export { ResBlock, type ResBlockOptions } from './res-block.js';
export { AttentionBlock, qkvAttention, type AttentionBlockOptions } from './attention.js';
export { GroupNorm32, normalization, zeroModule, Upsample, Downsample, TimestepBlock, TimestepEmbedSequential } from './layers.js';
export { normAct, type NormActOptions, type ComputeDtype } from './norm-act.js';
export { timestepEmbedding } from './timestep-embedding.js';
export { maybeCheckpoint, type CheckpointOptions } from './checkpoint.js';
export { computeDtypeFor, PrecisionError, PRECISIONS, type Precision } from './precision.js';
export { ControlNet, type ControlNetOptions } from './controlnet.js';
export {
  DefaultAttnProcessor, DEFAULT_ATTN_PROCESSOR, EagerAttnProcessor, attend, splitHeads, resolveAttnProcessors, UnknownAttnLayerError,
  type AttnProcessor, type AttentionCall, type AttentionContext, type AttnProcessorSetting, type HeadsQkv,
} from './attn-processor.js';
export { KvStore, KvRecordProcessor, KvInjectionProcessor, CrossFrameAttnProcessor, InterpolatingAttnProcessor, onLayers } from './attn-processors-edit.js';
export { Autoencoder, AutoencoderConfigError, validateAutoencoderConfig, type AutoencoderConfig, type AutoencoderKind, type AutoencoderLoss } from './autoencoder.js';
export { Encoder, Decoder, AEResnetBlock, MidBlock, downsamplingFactor, type AutoencoderNetOptions } from './autoencoder-blocks.js';
export { DiagonalGaussian, measureScaleFactor } from './autoencoder-kl.js';
export { VectorQuantizer, type VectorQuantizerOptions, type Quantized } from './autoencoder-vq.js';
export { GatedPixelCNN, GatedMaskedLayer, MaskedConv2d, verticalMask, horizontalMask, type PixelCNNOptions } from './pixelcnn.js';
export { DiT, DiTBlock, DiTAttention, DiTMlp, FinalLayer, type DiTOptions, type DiTKwargs } from './dit.js';
export { DIT_SIZES, ditConfigDefaults, resolveDiTConfig, type DiTConfig } from './dit-config.js';
export { DiTLinear, PatchEmbed, patchify, unpatchify, sincosPositions } from './dit-layers.js';
