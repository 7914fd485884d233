// Building a UNet from a stored config, and adapting it to the diffusion code's model signature.
import type { Generator, Tensor } from '@diffuse/torch';
import type { ModelFn, ModelKwargs } from '../diffusion/enums.js';
import type { UNetConfig } from './config.js';
import { UNet } from './unet.js';

/**
 * Builds a UNet from plain JSON options (e.g. a checkpoint's config); missing fields take
 * unetConfigDefaults().
 * @param config any subset of UNetConfig.
 * @param generator optional generator for the initial weights.
 * @returns the model (training mode, fresh weights).
 */
export function createModel(config: Partial<UNetConfig>, generator?: Generator): UNet {
  return new UNet({ ...config, generator });
}

/**
 * The UNet as the diffusion code calls models: (x, t, kwargs) → output; kwargs.y carries labels
 * (or kwargs.yWeights, soft class weights).
 * @param unet the model.
 * @returns a ModelFn.
 */
export function unetAsModelFn(unet: UNet): ModelFn {
  return (x: Tensor, t: Tensor, kwargs: ModelKwargs): Tensor => unet.forward(x, t, { y: kwargs['y'], yWeights: kwargs['yWeights'] });
}
