// Control maps for ControlNet: Canny edges, scribbles, low-resolution images.
export { canny, type CannyOptions } from './canny.js';
export { controlMap, controlChannels, CONTROL_KINDS, type ControlKind, type ControlMapOptions } from './maps.js';
export { readControlImages, type ReadControlOptions } from './read.js';
export { edgeF1, type EdgeScore } from './edge-f1.js';
