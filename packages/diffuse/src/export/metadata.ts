// What an exported model says about itself (ONNX metadata_props): the diffusion process it was
// trained for, so a runtime can rebuild the schedule without our checkpoint files.
import type { TrainConfig } from '../train/config.js';
import type { UNetConfig } from '../models/config.js';

/** The metadata keys and their meaning (values are strings, as ONNX stores them). */
export interface DiffuseOnnxMetadata {
  /** '1': the version of this key set. */
  'diffuse.format': string;
  /** JSON of the run's DiffusionConfig (schedule, T, mean/var type, rescaling, zero-terminal SNR). */
  'diffuse.diffusion': string;
  /** JSON of the UNet's resolved options (UNetConfig). */
  'diffuse.unet': string;
  noise_schedule: string;
  diffusion_steps: string;
  mean_type: string;
  var_type: string;
  rescale_timesteps: string;
  image_size: string;
  in_channels: string;
  /** '0' for unconditional models. */
  num_classes: string;
  /** The label of "no class" (classifier-free guidance), or '' when there is none. */
  null_class: string;
  learn_sigma: string;
}

/**
 * The metadata_props of an exported denoiser.
 * @param config the training run's config (its diffusion part is what samplers need).
 * @param unet the model's resolved options.
 * @returns string → string pairs.
 */
export function onnxMetadata(config: TrainConfig, unet: UNetConfig): DiffuseOnnxMetadata & Record<string, string> {
  const d = config.diffusion;
  return {
    'diffuse.format': '1',
    'diffuse.diffusion': JSON.stringify(d),
    'diffuse.unet': JSON.stringify(unet),
    noise_schedule: d.noiseSchedule,
    diffusion_steps: String(d.diffusionSteps),
    mean_type: d.meanType,
    var_type: d.varType,
    rescale_timesteps: String(d.rescaleTimesteps),
    image_size: String(unet.imageSize ?? config.model.imageSize),
    in_channels: String(unet.inChannels),
    num_classes: String(unet.numClasses ?? 0),
    null_class: unet.numClasses !== null && unet.nullClass ? String(unet.numClasses) : '',
    learn_sigma: String(unet.learnSigma),
  };
}
