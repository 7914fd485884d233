// Training and testing the digits feature network on the bundled digits: the first 8,000 train
// it, the last 2,000 are held out (never seen) to measure its accuracy and the FID floor.
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';

import { loadMnistDigits, MNIST_SIZE } from '../../data/mnist.js';
import { DigitsNet } from './digits.js';

/** Digits [0, TRAIN_DIGITS) train the feature network; the rest are held out. */
export const TRAIN_DIGITS = 8000;

/**
 * A range of the bundled digits as tensors.
 * @param from first index; @param to one past the last.
 * @returns x (N, 1, 28, 28) float32 in [−1, 1] (v / 127.5 − 1, as the training data) and y (N,) int64.
 */
export function digitsTensors(from: number, to: number): { x: Tensor; y: Tensor } {
  const all = loadMnistDigits();
  const px = MNIST_SIZE * MNIST_SIZE;
  const n = to - from;
  return torch.tidy(() => ({
    x: torch.tensor(all.images.subarray(from * px, to * px), { shape: [n, 1, MNIST_SIZE, MNIST_SIZE] }).to('float32').div(127.5).sub(1),
    y: torch.tensor(all.labels.subarray(from, to), { shape: [n] }).to('int64'),
  }));
}

export interface DigitsTrainOptions {
  seed?: number;
  epochs?: number;
  batchSize?: number;
  /** Peak learning rate of Adam (cosine decay to 0). */
  lr?: number;
  /** Random translation of each training digit by up to this many pixels (augmentation). */
  shift?: number;
  /** Progress lines. */
  log?: (line: string) => void;
}

/** Each image moved by its own random (dy, dx) in [−s, s]², background (−1) filled in. */
function randomShift(x: Tensor, s: number, generator: torch.Generator): Tensor {
  return torch.tidy(() => {
    const [b, , h, w] = x.shape as [number, number, number, number];
    const padded = torch.pad(x, [s, s, s, s], 'constant', -1); // (B, 1, H+2s, W+2s)
    const offsets = torch.randint(0, 2 * s + 1, [b, 2], { generator }).toArray();
    const crops = Array.from({ length: b }, (_, i) => padded.select(0, i).narrow(1, offsets[2 * i]!, h).narrow(2, offsets[2 * i + 1]!, w));
    return torch.stack(crops); // (B, 1, H, W)
  });
}

/**
 * Trains a DigitsNet on the first 8,000 bundled digits: Adam, cosine-decayed learning rate,
 * cross-entropy, random shifts. Deterministic for a seed on one machine.
 * @param o seed (0), epochs (12), batchSize (64), lr (2e-3), shift (2), log.
 * @returns the trained network, in eval mode.
 */
export function trainDigitsNet(o: DigitsTrainOptions = {}): DigitsNet {
  const seed = o.seed ?? 0;
  const epochs = o.epochs ?? 12;
  const batchSize = o.batchSize ?? 64;
  torch.manualSeed(seed); // dropout draws from the default generator
  const generator = new torch.Generator({ seed });
  const net = new DigitsNet(generator);
  const { x, y } = digitsTensors(0, TRAIN_DIGITS);
  const stepsPerEpoch = Math.floor(TRAIN_DIGITS / batchSize);
  const optimizer = new torch.optim.Adam(net.parameters(), { lr: o.lr ?? 2e-3 });
  const schedule = new torch.optim.LrScheduler(optimizer, torch.optim.cosineDecay(epochs * stepsPerEpoch));
  try {
    for (let epoch = 0; epoch < epochs; epoch++) {
      net.train();
      const order = torch.randperm(TRAIN_DIGITS, { generator });
      let lossSum = 0;
      for (let s = 0; s < stepsPerEpoch; s++) {
        lossSum += torch.tidy(() => {
          const idx = order.narrow(0, s * batchSize, batchSize); // (B,)
          const xb = randomShift(x.indexSelect(0, idx), o.shift ?? 2, generator); // (B, 1, 28, 28)
          const loss = torch.crossEntropy(net.forward(xb).logits, y.indexSelect(0, idx));
          optimizer.zeroGrad();
          loss.backward();
          optimizer.step();
          schedule.step();
          return loss.item();
        });
      }
      order.dispose();
      o.log?.(`epoch ${epoch + 1}/${epochs}: train loss ${(lossSum / stepsPerEpoch).toFixed(4)}`);
    }
  } finally {
    optimizer.dispose();
    torch.dispose([x, y]);
  }
  return net.eval();
}

/**
 * Classification accuracy of a digits network.
 * @param net the network (put in eval mode by the caller).
 * @param x (N, 1, 28, 28) in [−1, 1]; @param y (N,) int64 labels.
 * @returns the share of correct argmax predictions.
 */
export function digitsAccuracy(net: DigitsNet, x: Tensor, y: Tensor, batchSize = 500): number {
  let correct = 0;
  const n = x.shape[0]!;
  for (let i = 0; i < n; i += batchSize) {
    const b = Math.min(batchSize, n - i);
    correct += torch.noGrad(() => torch.tidy(() => net.forward(x.narrow(0, i, b)).logits.argmax(1).eq(y.narrow(0, i, b)).sum().item()));
  }
  return correct / n;
}

/**
 * The multiplier that gives a network's features unit variance per dimension on average:
 * 1 / √(tr Σ / D) over the given images.
 * @param net the network (featureScale 1, eval mode); @param x (N, 1, 28, 28) in [−1, 1].
 */
export function featureScaleOf(net: DigitsNet, x: Tensor): number {
  return torch.noGrad(() => torch.tidy(() => {
    const f = net.forward(x).features.to('float64'); // (N, 128)
    return 1 / Math.sqrt(f.var(0).mean().item());
  }));
}
