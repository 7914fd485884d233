// The DiT's options as plain JSON (what a checkpoint stores), the DiT paper's model sizes
// (Peebles & Xie 2023, Table 1) and small presets that train on two CPU cores.

/** Every DiT option, JSON-serialisable. Names follow facebookresearch/DiT in camelCase. */
export interface DiTConfig {
  /** Image (or latent) channels in. */
  inChannels: number;
  /** Output channels before learnSigma doubles them; null = inChannels. */
  outChannels: number | null;
  /** Side p of the square patches (1, 2 or 4): a token per p×p pixels. */
  patchSize: number;
  /** Frames per patch along time for clips (B, C, T, H, W); 1 = every frame its own patches. */
  temporalPatch: number;
  /** Takes clips (B, C, T, H, W) instead of images (B, C, H, W). */
  clip: boolean;
  /** Token width D. */
  hiddenSize: number;
  /** Number of DiT blocks. */
  depth: number;
  numHeads: number;
  /** MLP hidden width is mlpRatio · D. */
  mlpRatio: number;
  /** Number of classes for class conditioning; null = unconditional. */
  numClasses: number | null;
  /** Add one label-embedding row, index numClasses, for "no class" (classifier-free guidance). */
  nullClass: boolean;
  /** Predict the variance too: output channels doubled. */
  learnSigma: boolean;
  /** Gradient checkpointing of each block (less memory, one more forward). */
  useCheckpoint: boolean;
}

/** The paper's sizes by name: depth, width, heads (Table 1). */
export const DIT_SIZES: Readonly<Record<string, Pick<DiTConfig, 'depth' | 'hiddenSize' | 'numHeads'>>> = {
  XL: { depth: 28, hiddenSize: 1152, numHeads: 16 },
  L: { depth: 24, hiddenSize: 1024, numHeads: 16 },
  B: { depth: 12, hiddenSize: 768, numHeads: 12 },
  S: { depth: 12, hiddenSize: 384, numHeads: 6 },
  /** CPU sizes (ours): a few blocks that train on the 28×28 digits in minutes. */
  T: { depth: 6, hiddenSize: 128, numHeads: 4 },
  XT: { depth: 2, hiddenSize: 32, numHeads: 2 },
};

/** DiT-B/2 as facebookresearch/DiT builds it (learned σ, 4 latent channels); override what differs. */
export function ditConfigDefaults(): DiTConfig {
  return {
    inChannels: 4, outChannels: null, patchSize: 2, temporalPatch: 1, clip: false,
    ...DIT_SIZES['B']!, mlpRatio: 4, numClasses: null, nullClass: true, learnSigma: true, useCheckpoint: false,
  };
}

/**
 * Fills the defaults in and checks the options.
 * @param options any subset of the config.
 * @returns the full config with outChannels made concrete.
 * @throws RangeError for options that describe no buildable DiT.
 */
export function resolveDiTConfig(options: Partial<DiTConfig> = {}): DiTConfig {
  const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as Partial<DiTConfig>;
  const c: DiTConfig = { ...ditConfigDefaults(), ...given };
  c.outChannels = c.outChannels ?? c.inChannels;
  for (const k of ['inChannels', 'outChannels', 'hiddenSize', 'depth', 'numHeads', 'temporalPatch'] as const) {
    const v = c[k] as number;
    if (!Number.isInteger(v) || v <= 0) throw new RangeError(`DiT: ${k} must be a positive integer, got ${v}`);
  }
  if (![1, 2, 4].includes(c.patchSize)) throw new RangeError(`DiT: patchSize must be 1, 2 or 4, got ${c.patchSize}`);
  if (c.hiddenSize % c.numHeads !== 0) throw new RangeError(`DiT: width ${c.hiddenSize} is not divisible by ${c.numHeads} heads`);
  // The sin-cos positions split D per axis: halves for (x, y), or D/4 (t) + 3D/8 (x) + 3D/8 (y) for clips, each of even width.
  const unit = c.clip ? 16 : 4;
  if (c.hiddenSize % unit !== 0) throw new RangeError(`DiT: width ${c.hiddenSize} must be divisible by ${unit} for the ${c.clip ? '(t, x, y)' : '(x, y)'} sin-cos positions`);
  if (!(c.mlpRatio > 0) || !Number.isInteger(c.mlpRatio * c.hiddenSize)) throw new RangeError(`DiT: mlpRatio ${c.mlpRatio} × ${c.hiddenSize} is not a whole width`);
  if (c.numClasses !== null && (!Number.isInteger(c.numClasses) || c.numClasses <= 0)) throw new RangeError(`DiT: numClasses must be a positive integer, got ${c.numClasses}`);
  return c;
}
