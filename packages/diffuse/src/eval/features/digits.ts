// A small digit classifier whose 128-d hidden layer serves as the feature space of FID/KID/PR for
// 28×28 grayscale data (and whose logits give an Inception Score), so those metrics work out of
// the box on the bundled digits. Trained by scripts/train-digits-features.ts on the first 8,000
// bundled digits; shipped in models/digits-features/ with its description and held-out accuracy.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';

import { DataError } from '../../io/errors.js';
import { SHIPPED_MODELS_DIR } from '../../pipeline/load.js';
import { extractorOf, fileHash, loadWeights, type FeatureBatch, type FeatureExtractor } from './extractor.js';

const { nn } = torch;

/** Side and channels of the images the network takes. */
export const DIGITS_SIZE = 28;
export const DIGITS_FEATURES = 128;
export const DIGITS_CLASSES = 10;

/** The shipped network's folder. */
export const DIGITS_FEATURES_DIR = path.join(SHIPPED_MODELS_DIR, 'digits-features');

/**
 * Three 3×3 conv + ReLU + 2×2 max-pool stages (28 → 14 → 7 → 3), a 128-d linear feature layer
 * and a 10-way classifier on its ReLU. The features are the pre-activation of that layer
 * (unclipped, so closer to the Gaussian FID assumes than a ReLU output) times featureScale, a
 * constant that gives them unit variance per dimension on average over the training digits, so
 * FID and KID come out on a scale that does not depend on how training happened to size them.
 */
export class DigitsNet extends nn.Module {
  readonly conv1: torch.nn.Conv2d;
  readonly conv2: torch.nn.Conv2d;
  readonly conv3: torch.nn.Conv2d;
  readonly fc1: torch.nn.Linear;
  readonly fc2: torch.nn.Linear;
  readonly dropout: torch.nn.Dropout;
  /** Multiplies the features (not the logits); set from config.json. */
  featureScale = 1;

  /** @param generator seeds the initial weights (training). */
  constructor(generator?: torch.Generator) {
    super();
    this.conv1 = this.registerModule('conv1', new nn.Conv2d(1, 32, 3, { padding: 1, generator }));
    this.conv2 = this.registerModule('conv2', new nn.Conv2d(32, 64, 3, { padding: 1, generator }));
    this.conv3 = this.registerModule('conv3', new nn.Conv2d(64, 64, 3, { padding: 1, generator }));
    this.fc1 = this.registerModule('fc1', new nn.Linear(64 * 3 * 3, DIGITS_FEATURES, { generator }));
    this.fc2 = this.registerModule('fc2', new nn.Linear(DIGITS_FEATURES, DIGITS_CLASSES, { generator }));
    this.dropout = this.registerModule('dropout', new nn.Dropout(0.3));
  }

  /**
   * @param x (B, 1, 28, 28) in [−1, 1] (white digits on black, as the bundled data).
   * @returns features (B, 128) and logits (B, 10).
   */
  forward(x: Tensor): FeatureBatch & { logits: Tensor } {
    return torch.tidy(() => {
      let h = torch.maxPool2d(this.conv1.forward(x).relu_(), 2); // (B, 32, 14, 14)
      h = torch.maxPool2d(this.conv2.forward(h).relu_(), 2); // (B, 64, 7, 7)
      h = torch.maxPool2d(this.conv3.forward(h).relu_(), 2); // (B, 64, 3, 3)
      const hidden = this.fc1.forward(h.flatten(1)); // (B, 128)
      const logits = this.fc2.forward(this.dropout.forward(hidden.relu())); // (B, 10)
      return { features: hidden.mul(this.featureScale), logits };
    });
  }
}

/** models/digits-features/config.json: what the shipped network is and how it was made. */
export interface DigitsFeaturesInfo {
  name: string;
  architecture: string;
  input: { size: number; channels: number; range: [number, number] };
  featureLayer: string;
  featureDim: number;
  /** The features' multiplier (see DigitsNet.featureScale). */
  featureScale: number;
  numClasses: number;
  weights: string;
  training: Record<string, unknown>;
  heldOutAccuracy: number;
}

/**
 * The digits feature extractor.
 * @param dir the folder holding config.json and the weights (default: the shipped one).
 * @throws DataError when the files are missing or do not fit the network.
 */
export function loadDigitsExtractor(dir: string = DIGITS_FEATURES_DIR): FeatureExtractor {
  const configFile = path.join(dir, 'config.json');
  if (!existsSync(configFile)) throw new DataError(`${configFile}: missing; the digits feature network ships with the package (reinstall it, or run scripts/train-digits-features.ts)`, configFile);
  const info = JSON.parse(readFileSync(configFile, 'utf8')) as DigitsFeaturesInfo;
  const weights = path.join(dir, info.weights);
  const net = loadWeights(new DigitsNet(), weights, 'run scripts/train-digits-features.ts to recreate it');
  net.featureScale = info.featureScale ?? 1;
  const id = `digits-${fileHash(weights).slice(0, 12)}-${info.featureScale.toPrecision(6)}`;
  return extractorOf('digits', id, net, {
    channels: 1,
    inputSize: DIGITS_SIZE,
    featureDim: DIGITS_FEATURES,
    numClasses: DIGITS_CLASSES,
  });
}
