// @diffuse/torch: libtorch for TypeScript. Import as `import * as torch from '@diffuse/torch'`.
export { Tensor, isTensor, type Scalar, type TensorOrScalar, type NestedArray, type Dims } from './tensor.js';
export { type DType, type Device, type AnyTypedArray, DTYPE_CODE, BYTES_PER_ELEMENT, isFloating } from './dtype.js';
export * from './creation.js';
export * from './functional.js';
export * from './packed-attention.js';
export { groupNormAct, type GroupNormActOptions } from './fused.js';
export { noGrad, enableGrad, isGradEnabled, setGradEnabled, checkpoint } from './autograd.js';
export * as autograd from './autograd.js';
export { Generator, manualSeed, defaultGenerator, setNumThreads, getNumThreads, setFlushDenormal, cuda, libtorchVersion } from './random.js';
export { tidy, dispose } from './memory.js';
export { call, callByName, schema, listOps } from './dispatch.js';
export { memory } from './stats.js';
export * as nn from './nn/index.js';
export * as optim from './optim/index.js';
export * from './io/safetensors.js';
export { profile, formatProfile, type OpProfile } from './profiler.js';
export { cpuHasNativeBf16, cpuInfo, type CpuInfo } from './cpu.js';
export * as distributed from './distributed.js';
