// `diffuse train --autoencoder AE`: latent diffusion on a frozen autoencoder's scaled latents.
// The model's image size and channels become the latents'; the run records the autoencoder's
// path and weights hash, and a resume given another autoencoder is refused.
import { loadAutoencoder } from '../pipeline/autoencoder.js';
import { checkSameAutoencoder, latentAutoencoderConfig } from '../pipeline/latent.js';
import { validateConfig, type TrainConfig } from '../train/config.js';
import { UsageError, type FlagSpec, type FlagValue } from './args.js';

/** Presets made for latents (their UNet fits a 7×7 latent grid, not 28×28 pixels). */
const LATENT_PRESETS = new Set(['digits-ldm']);

export const LATENT_FLAGS: FlagSpec[] = [
  { key: 'autoencoder', type: 'string', help: "train on the latents of this frozen autoencoder ('diffuse autoencoder train' output): latent diffusion", group: 'Latent diffusion' },
  { key: 'encodeOnTheFly', type: 'bool', help: 'encode each batch as it comes instead of the whole dataset once (cached in OUT/latents-<hash>.npz)' },
];

/**
 * A new run's config with --autoencoder applied: the UNet's size and channels set to the latents'.
 * @throws UsageError when --image-size/--channels contradict the autoencoder's images.
 */
export function withAutoencoder(cfg: TrainConfig, f: Record<string, FlagValue>): TrainConfig {
  if (f.autoencoder === undefined) {
    if (f.encodeOnTheFly) throw new UsageError('--encode-on-the-fly needs --autoencoder AE');
    if (LATENT_PRESETS.has(f.preset as string)) throw new UsageError(`--preset ${String(f.preset)} trains on latents; give --autoencoder AE (a 'diffuse autoencoder train' output)`);
    return cfg;
  }
  const loaded = loadAutoencoder(f.autoencoder as string);
  const ref = latentAutoencoderConfig(loaded, f.encodeOnTheFly === true);
  for (const [flag, want] of [['imageSize', ref.imageSize], ['channels', ref.channels]] as const) {
    if (f[flag] !== undefined && f[flag] !== want) {
      throw new UsageError(`--${flag === 'imageSize' ? 'image-size' : 'channels'} ${String(f[flag])}: the autoencoder ${loaded.dir} takes ${ref.imageSize}×${ref.imageSize}×${ref.channels} images; drop the flag or train an autoencoder for that size`);
    }
  }
  const [c, h] = loaded.ae.latentShape();
  const out: TrainConfig = { ...cfg, model: { ...cfg.model, imageSize: h, channels: c }, autoencoder: ref };
  try {
    validateConfig(out);
  } catch (e) {
    if (e instanceof RangeError) throw new UsageError(`the autoencoder's latents are ${c}×${h}×${h}: ${e.message} (--channel-mult 1 or --preset digits-ldm fit 7×7)`);
    throw e;
  }
  return out;
}

/** --autoencoder on a resume must name the autoencoder the run was trained with. */
export function checkResumedAutoencoder(cfg: TrainConfig, f: Record<string, FlagValue>): void {
  if (f.encodeOnTheFly !== undefined) throw new UsageError('--resume keeps the saved run\'s way of encoding; drop --encode-on-the-fly');
  if (f.autoencoder === undefined) return;
  if (cfg.autoencoder === undefined) throw new UsageError('--autoencoder: this run trains on pixels; resume it without --autoencoder');
  checkSameAutoencoder(cfg.autoencoder, loadAutoencoder(f.autoencoder as string));
}
