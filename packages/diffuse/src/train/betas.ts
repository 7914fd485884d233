// The β schedule of a run's DiffusionConfig, on its own (no model code), so the web page's bundle
// computes the schedule with the same function as the CLI.
import { getNamedBetaSchedule, rescaleZeroTerminalSnr } from '../diffusion/schedules.js';
import type { DiffusionConfig } from './config.js';

/** The β schedule of a config (float64), zero-terminal-SNR rescaled when asked. */
export function betasFor(cfg: DiffusionConfig): Float64Array {
  const betas = getNamedBetaSchedule(cfg.noiseSchedule, cfg.diffusionSteps);
  return cfg.zeroTerminalSnr ? rescaleZeroTerminalSnr(betas) : betas;
}
