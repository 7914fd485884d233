export { Module, type StateDict, type LoadResult } from './module.js';
export * from './layers.js';
export * as init from './init.js';
