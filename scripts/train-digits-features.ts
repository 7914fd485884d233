// Trains the digits feature network (FID/KID/IS/PR features for 28×28 grayscale data) and writes
// it to packages/diffuse/models/digits-features/: model.safetensors and config.json. Seeded; a
// few minutes on 2 CPU cores.
//
//   npx tsc -b && npx tsc -p scripts && node scripts/dist/train-digits-features.js [--seed N] [--out DIR]
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import * as torch from '@diffuse/torch';
import { DIGITS_FEATURES_DIR, digitsAccuracy, digitsTensors, featureScaleOf, TRAIN_DIGITS, trainDigitsNet, type DigitsFeaturesInfo } from 'diffuse';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

const seed = Number(flag('seed', '0'));
const out = flag('out', DIGITS_FEATURES_DIR);
const training = { seed, epochs: 12, batchSize: 64, lr: 2e-3, shift: 2, optimizer: 'Adam, cosine decay to 0', loss: 'cross-entropy', data: `bundled digits 0..${TRAIN_DIGITS - 1}` };

const t0 = Date.now();
const net = trainDigitsNet({ ...training, log: (line) => console.log(`${line} (${((Date.now() - t0) / 1000).toFixed(0)} s)`) });
const heldOut = digitsTensors(TRAIN_DIGITS, 10000);
const train = digitsTensors(0, TRAIN_DIGITS);
const heldOutAccuracy = digitsAccuracy(net, heldOut.x, heldOut.y);
const trainAccuracy = digitsAccuracy(net, train.x, train.y);
const featureScale = featureScaleOf(net, train.x);
console.log(`held-out accuracy (digits ${TRAIN_DIGITS}..9999): ${(100 * heldOutAccuracy).toFixed(2)}%; train accuracy ${(100 * trainAccuracy).toFixed(2)}%`);

mkdirSync(out, { recursive: true });
const weights: Record<string, torch.Tensor> = Object.fromEntries(net.stateDict());
torch.saveSafetensors(path.join(out, 'model.safetensors'), weights, { format: 'pt' });
const info: DigitsFeaturesInfo = {
  name: 'digits-features',
  architecture: 'conv3x3(1→32)+ReLU+maxpool2, conv3x3(32→64)+ReLU+maxpool2, conv3x3(64→64)+ReLU+maxpool2, fc1(576→128), ReLU, dropout 0.3, fc2(128→10)',
  input: { size: 28, channels: 1, range: [-1, 1] },
  featureLayer: 'fc1 output before its ReLU (128-d), times featureScale',
  featureDim: 128,
  featureScale,
  numClasses: 10,
  weights: 'model.safetensors',
  training: { ...training, seconds: Math.round((Date.now() - t0) / 1000), trainAccuracy: Number(trainAccuracy.toFixed(4)), script: 'scripts/train-digits-features.ts' },
  heldOutAccuracy: Number(heldOutAccuracy.toFixed(4)),
};
writeFileSync(path.join(out, 'config.json'), `${JSON.stringify(info, null, 2)}\n`);
console.log(`wrote ${out}/model.safetensors and config.json`);
