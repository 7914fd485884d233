// Evaluation: likelihood in bits/dim, and sample quality (FID, KID, Inception Score, precision
// and recall) on the features of a fixed network.
export { featureStatistics, traceSqrtProduct, psdSqrt, type FeatureStatistics, type TraceSqrtProduct } from './linalg.js';
export { frechetDistance, fid, type FrechetOptions } from './frechet.js';
export { kid, mmd2Unbiased, type KidOptions, type KidResult } from './kid.js';
export { inceptionScore, type InceptionScoreResult } from './inception-score.js';
export { precisionRecall, kthNeighbourRadii, manifoldCoverage, type PrecisionRecallOptions } from './precision-recall.js';
