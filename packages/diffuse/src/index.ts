// diffuse: the diffusion framework (see the README).
export * from './diffusion/index.js';
