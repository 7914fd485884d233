// The diffusion core: schedules, the Gaussian process, respacing, timestep samplers, losses.
export * from './enums.js';
export * from './parameterization.js';
export * from './schedules.js';
export * from './tables.js';
export * from './extract.js';
export * from './losses.js';
export * from './types.js';
export { GaussianDiffusion, isWrapped, markWrapped } from './gaussian-diffusion.js';
export { nonzeroMask } from './p-sample.js';
export { reverseLoop, finalSample, type StepFn } from './sample-loop.js';
export { vbTermFromMeanVariance } from './bpd.js';
export * from './respace.js';
export * from './timestep-sampler.js';
