// diffuse: the diffusion framework (see the README).
export * from './samplers/index.js';
export * from './guidance/index.js';
