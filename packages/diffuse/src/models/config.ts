// The UNet's options as plain JSON (what a checkpoint stores), improved-diffusion's defaults and
// its choice of channel multipliers per image size.

/** Every UNet option, JSON-serialisable. Names follow improved-diffusion's in camelCase. */
export interface UNetConfig {
  /** Image side (square images); used for the default channelMult and to check divisibility. null: not checked. */
  imageSize: number | null;
  /** Image channels in: 1 grayscale, 3 RGB. */
  inChannels: number;
  /** Base width; the timestep embedding is 4× this. */
  modelChannels: number;
  /** Output channels before learnSigma doubles them; null = inChannels. */
  outChannels: number | null;
  /** Residual blocks per level (the decoder has one more per level). */
  numResBlocks: number;
  /** Downsample rates with attention, e.g. [2] for 14×14 at 28×28 (improved-diffusion's "16,8" at 64 is [4, 8]). */
  attentionResolutions: number[];
  dropout: number;
  /** Width multiplier per level; fractions allowed (guided-diffusion's 0.5). null: chosen from imageSize. */
  channelMult: number[] | null;
  /** Learned 3×3 convs when resampling (otherwise nearest upsampling / average pooling alone). */
  convResample: boolean;
  /** Number of classes for class conditioning; null = unconditional. */
  numClasses: number | null;
  /** Add one label-embedding row, index numClasses, for "no class" (classifier-free guidance). */
  nullClass: boolean;
  numHeads: number;
  /** Channels per attention head; −1 = use numHeads. */
  numHeadChannels: number;
  /** Heads in the decoder's attention; −1 = numHeads. */
  numHeadsUpsample: number;
  /** Condition by GroupNorm(h)·(1 + scale) + shift instead of adding the embedding. */
  useScaleShiftNorm: boolean;
  /** Resample inside residual blocks (guided-diffusion / BigGAN) instead of separate layers. */
  resblockUpdown: boolean;
  /** guided-diffusion's q/k/v channel order; false keeps improved-diffusion's. */
  useNewAttentionOrder: boolean;
  /** Gradient checkpointing of residual and attention blocks (less memory, one more forward). */
  useCheckpoint: boolean;
  /** Predict the variance too: output channels doubled. */
  learnSigma: boolean;
}

/**
 * improved-diffusion's model defaults (model_and_diffusion_defaults) in our names: a 64×64 RGB
 * model, 128 channels, 2 residual blocks, 4 heads, attention at 16 and 8 pixels, scale-shift norm.
 * @returns a fresh config object.
 */
export function unetConfigDefaults(): UNetConfig {
  return {
    imageSize: 64,
    inChannels: 3,
    modelChannels: 128,
    outChannels: null,
    numResBlocks: 2,
    attentionResolutions: [4, 8],
    dropout: 0,
    channelMult: null,
    convResample: true,
    numClasses: null,
    nullClass: true,
    numHeads: 4,
    numHeadChannels: -1,
    numHeadsUpsample: -1,
    useScaleShiftNorm: true,
    resblockUpdown: false,
    useNewAttentionOrder: false,
    useCheckpoint: false,
    learnSigma: false,
  };
}

/**
 * The reference config "ref-28" (28×28 grayscale, learned σ) used for benchmarks.
 * @returns a fresh config object.
 */
export function ref28Config(): UNetConfig {
  return {
    ...unetConfigDefaults(),
    imageSize: 28,
    inChannels: 1,
    modelChannels: 32,
    outChannels: 1,
    learnSigma: true,
    numResBlocks: 2,
    channelMult: [1, 2, 2],
    attentionResolutions: [2],
    numHeads: 4,
    dropout: 0.1,
    useScaleShiftNorm: true,
  };
}

/**
 * Channel multipliers by image size: improved-diffusion's (256, 64, 32), guided-diffusion's
 * (512, 128), and [1, 2, 2] for 28 (3 levels: 28, 14, 7).
 * @param imageSize the image side.
 * @returns the multipliers.
 */
export function channelMultForImageSize(imageSize: number): number[] {
  const table: Record<number, number[]> = {
    512: [0.5, 1, 1, 2, 2, 4, 4],
    256: [1, 1, 2, 2, 4, 4],
    128: [1, 1, 2, 3, 4],
    64: [1, 2, 3, 4],
    32: [1, 2, 2, 2],
    28: [1, 2, 2],
  };
  const mult = table[imageSize];
  if (mult === undefined) throw new RangeError(`no default channelMult for image size ${imageSize}; pass channelMult`);
  return [...mult];
}

/**
 * improved-diffusion's attention_resolutions ("16,8": pixel sizes) as downsample rates.
 * @param resolutions comma-separated sizes.
 * @param imageSize the image side.
 * @returns imageSize / size for each.
 */
export function attentionDownsampleRates(resolutions: string, imageSize: number): number[] {
  return resolutions
    .split(',')
    .filter((s) => s.trim() !== '')
    .map((s) => {
      const res = Number(s);
      if (!Number.isInteger(res) || res <= 0 || imageSize % res !== 0) {
        throw new RangeError(`attention resolution ${s} does not divide image size ${imageSize}`);
      }
      return imageSize / res;
    });
}

/**
 * Fills the defaults in and checks the options.
 * @param options any subset of the config.
 * @returns the full config with channelMult and outChannels made concrete.
 */
export function resolveUNetConfig(options: Partial<UNetConfig> = {}): UNetConfig {
  const c: UNetConfig = { ...unetConfigDefaults(), ...stripUndefined(options) };
  c.channelMult = c.channelMult ?? (c.imageSize !== null ? channelMultForImageSize(c.imageSize) : null);
  if (c.channelMult === null || c.channelMult.length === 0) throw new RangeError('UNet: channelMult is required when imageSize is null');
  c.outChannels = c.outChannels ?? c.inChannels;
  const positive = (name: keyof UNetConfig, v: number): void => {
    if (!Number.isInteger(v) || v <= 0) throw new RangeError(`UNet: ${name} must be a positive integer, got ${v}`);
  };
  positive('inChannels', c.inChannels);
  positive('modelChannels', c.modelChannels);
  positive('outChannels', c.outChannels);
  positive('numResBlocks', c.numResBlocks);
  positive('numHeads', c.numHeads);
  if (c.numClasses !== null) positive('numClasses', c.numClasses);
  if (c.numHeadChannels !== -1) positive('numHeadChannels', c.numHeadChannels);
  if (c.numHeadsUpsample !== -1) positive('numHeadsUpsample', c.numHeadsUpsample);
  if (!(c.dropout >= 0 && c.dropout <= 1)) throw new RangeError(`UNet: dropout must be in [0, 1], got ${c.dropout}`);
  for (const m of c.channelMult) {
    if (!(m > 0) || !Number.isInteger(m * c.modelChannels)) {
      throw new RangeError(`UNet: channel multiplier ${m} × ${c.modelChannels} channels is not a positive whole number`);
    }
  }
  const factor = 2 ** (c.channelMult.length - 1);
  if (c.imageSize !== null && c.imageSize % factor !== 0) {
    throw new RangeError(`UNet: image size ${c.imageSize} is not divisible by ${factor} (${c.channelMult.length} levels)`);
  }
  return c;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
