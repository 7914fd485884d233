// Data: the bundled digits, image folders, npz files, improved-diffusion's preprocessing, and
// the prefetching batch loader.
export { DataError } from '../io/errors.js';
export type { Sample, DatasetInfo, ImageDataset, AsyncImageDataset, AnyImageDataset, DecodeJob } from './dataset.js';
export { isAsyncDataset } from './dataset.js';
export { Filter, resample } from './resample.js';
export { centerResize, rgbToGray, grayToRgb, toChannels, toFloatCHW, hflipCHW, roundHalfEven } from './transforms.js';
export { decodeImage, runDecodeJob } from './decode.js';
export { IMAGE_EXTENSIONS, ClassSource, listImageFiles, classLabels, ImageFolderDataset, type ImageFolderOptions, type ImageListing } from './image-folder.js';
export { U8ArrayDataset, F32ArrayDataset, type U8ArrayOptions, type F32ArrayOptions } from './array-dataset.js';
export { MNIST_SIZE, loadMnistDigits, mnistDataset, type MnistDigits, type MnistOptions } from './mnist.js';
export { MOVING_DIGITS, MOVING_DIGITS_DEFAULTS, MovingDigitsDataset, bounce, movingDigitTracks, type MovingDigitsOptions, type DigitTrack } from './moving-digits.js';
export { loadNpzDataset, type NpzDatasetOptions } from './npz-dataset.js';
export { hash32, mulberry32, epochPermutation, flipAt } from './shuffle.js';
export { DecodePool, defaultWorkerCount } from './worker-pool.js';
export { BatchLoader, type Batch, type LoaderOptions, type LoaderPosition } from './loader.js';
export { openDataset, type OpenDatasetOptions } from './open.js';
export { AUTO_ASPECTS, parseBuckets, formatBuckets, nearestBucket, assignBuckets, bucketEpoch, bucketBatchesPerEpoch, type BucketSize, type BucketPlan, type BucketBatch } from './buckets.js';
