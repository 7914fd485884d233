export { Module, type StateDict, type LoadResult } from './module.js';
export * from './layers.js';
export * from './conv.js';
export * from './norm.js';
export * from './activation.js';
export * from './resample.js';
export * from './attention.js';
export { checkpointCall, checkpointed, isCheckpointed, type CheckpointOutput, type CheckpointableModule } from './checkpoint.js';
export * as init from './init.js';
