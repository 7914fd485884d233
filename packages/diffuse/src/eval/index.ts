// Evaluation: likelihood in bits/dim, and sample quality (FID, KID, Inception Score, precision
// and recall) on the features of a fixed network.
export { featureStatistics, traceSqrtProduct, psdSqrt, type FeatureStatistics, type TraceSqrtProduct } from './linalg.js';
export { frechetDistance, fid, type FrechetOptions } from './frechet.js';
export { kid, mmd2Unbiased, type KidOptions, type KidResult } from './kid.js';
export { inceptionScore, type InceptionScoreResult, type InceptionScoreOptions } from './inception-score.js';
export { confidentShare, CONFIDENT_THRESHOLD } from './confident.js';
export { precisionRecall, kthNeighbourRadii, manifoldCoverage, type PrecisionRecallOptions } from './precision-recall.js';
export { type FeatureExtractor, type FeatureBatch, extractorOf, loadWeights } from './features/extractor.js';
export { InceptionV3, loadInceptionExtractor, INCEPTION_SIZE, INCEPTION_FEATURES, INCEPTION_CLASSES } from './features/inception.js';
export { DigitsNet, loadDigitsExtractor, DIGITS_FEATURES_DIR, DIGITS_SIZE, type DigitsFeaturesInfo } from './features/digits.js';
export { trainDigitsNet, digitsAccuracy, digitsTensors, featureScaleOf, TRAIN_DIGITS, type DigitsTrainOptions } from './features/digits-train.js';
export { computeFeatures, type FeatureSet, type ComputeFeaturesOptions } from './compute-features.js';
export { openImageSet, imageSetIdentity, imageSetKind, isDigitSet, DIGIT_SETS, type ImageFormat } from './image-sets.js';
export { cacheDir, cacheFile, cachedFeatures, featureSetWithStats, type FeatureSetWithStats } from './feature-cache.js';
export { evaluateImageSets, type EvaluateOptions, type Evaluation } from './evaluate.js';
export { loadExtractor, defaultExtractorName, FEATURE_NETWORKS, type FeatureNetworkName, type LoadExtractorOptions } from './features/registry.js';
export { calcNll, type NllOptions, type NllResult } from './nll.js';
