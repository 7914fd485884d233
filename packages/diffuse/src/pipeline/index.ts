export { loadPipeline, pipelineFromModel, resolveModelPath, SHIPPED_MODELS_DIR, type Pipeline, type LoadPipelineOptions } from './load.js';
export { generateImages, generateFrames, toUint8NHWC, sampleSizeProblem, type GenerateOptions, type GeneratedImages } from './generate.js';
export { loadAutoencoder, encodeScaled, decodeScaled, type LoadedAutoencoder } from './autoencoder.js';
export { frozenAutoencoder, encodeDataset, encodeImages, decodeLatents, latentAutoencoderConfig } from './latent.js';
