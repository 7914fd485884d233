// Optimizers, gradient clipping and learning-rate schedules.
export * from './optimizer.js';
export * from './state-dict.js';
export * from './sgd.js';
export * from './adam.js';
export * from './adamw.js';
export * from './clip.js';
export * from './lr-scheduler.js';
