// Editing with a trained model, on the library's samplers: SDEdit (img2img), inpainting (with
// RePaint resampling), DDIM inversion and reconstruction, interpolation; attention processors
// (models/attn-processors-edit.ts) for cross-frame edits and attention interpolation.
export { sdedit, type SdeditOptions } from './sdedit.js';
export { inpaint, type InpaintOptions, type RepaintResampling } from './inpaint.js';
export { invert, reconstruct, roundTripMse, type InversionOptions } from './invert.js';
export { interpolate, slerp, type InterpolateOptions } from './interpolate.js';
export { withAttnProcessors, type HasAttnProcessors } from './attn-scope.js';
export { noiseToLevel, renoise, strengthToSigma } from './levels.js';
export { withReferenceAttention } from './reference.js';
