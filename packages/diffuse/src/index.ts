// diffuse: the diffusion framework (see the README).
export * from './models/index.js';
