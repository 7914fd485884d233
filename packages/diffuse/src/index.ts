// diffuse: the diffusion framework (see the README).
export * from './diffusion/index.js';
export * from './samplers/index.js';
export * from './guidance/index.js';
export * from './models/index.js';
export * from './edit/index.js';
export * from './io/index.js';
export * from './data/index.js';
export * from './pipeline/index.js';
export * from './train/index.js';
export * from './eval/index.js';
export * from './report/index.js';
export * from './adapters/index.js';
export * from './control/index.js';
export * from './export/index.js';
export * from './distill/index.js';
