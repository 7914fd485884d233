// Guidance: classifier-free (a wrapped model) and classifier (gradient hooks for the samplers).
import type { ClassifierFreeGuidance } from './classifier-free.js';
import type { ClassifierGuidance } from './classifier.js';

export { classifierFreeGuidance, type ClassifierFreeGuidance } from './classifier-free.js';
export {
  classifierGradient,
  conditionMean,
  conditionScore,
  guidanceGradient,
  type ClassifierGradFn,
  type ClassifierGuidance,
} from './classifier.js';

/** Either kind of guidance, as `sample(..., { guidance })` takes it. */
export type Guidance = ClassifierFreeGuidance | ClassifierGuidance;
