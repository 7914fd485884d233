// diffuse: the diffusion framework (see the README).
export {};
