// InceptionV3 in the form FID is standardised on (Szegedy et al. 2016; the TensorFlow graph of
// Heusel et al.'s TTUR code, ported to PyTorch by pytorch-fid): torchvision's Inception3 with
// 1008 classes, no aux head, and pytorch-fid's FIDInceptionA/C/E blocks (average pools that
// ignore the padding; a max pool in the last block). Module and parameter names equal
// pytorch-fid's, so its pt_inception-2015-12-05 weights load after a format conversion
// (scripts/convert-inception-weights.py). Nothing is downloaded.
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';

import { extractorOf, fileHash, loadWeights, type FeatureBatch, type FeatureExtractor } from './extractor.js';

const { nn } = torch;
type Pair = number | [number, number];

/** BatchNorm2d with frozen statistics (inference only): γ (x − mean)/√(var + ε) + β. */
export class FrozenBatchNorm2d extends nn.Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  readonly running_mean: Tensor;
  readonly running_var: Tensor;
  constructor(channels: number, readonly eps = 1e-3) {
    super();
    this.weight = this.registerParameter('weight', torch.ones([channels]));
    this.bias = this.registerParameter('bias', torch.zeros([channels]));
    this.running_mean = this.registerBuffer('running_mean', torch.zeros([channels]));
    this.running_var = this.registerBuffer('running_var', torch.ones([channels]));
  }
  forward(x: Tensor): Tensor {
    return torch.batchNorm(x, this.running_mean, this.running_var, this.weight, this.bias, false, 0, this.eps); // (B, C, H, W)
  }
}

/** torchvision's BasicConv2d: conv (no bias) → batch norm (ε = 0.001) → ReLU. */
export class BasicConv2d extends nn.Module {
  readonly conv: torch.nn.Conv2d;
  readonly bn: FrozenBatchNorm2d;
  constructor(inChannels: number, outChannels: number, kernelSize: Pair, o: { stride?: Pair; padding?: Pair } = {}) {
    super();
    this.conv = this.registerModule('conv', new nn.Conv2d(inChannels, outChannels, kernelSize, { ...o, bias: false }));
    this.bn = this.registerModule('bn', new FrozenBatchNorm2d(outChannels));
  }
  forward(x: Tensor): Tensor {
    return torch.tidy(() => this.bn.forward(this.conv.forward(x)).relu_());
  }
}

/** A module whose children are BasicConv2d layers, registered under their torchvision names. */
abstract class InceptionBlock extends nn.Module {
  protected readonly c: Record<string, BasicConv2d> = {};
  protected add(name: string, ...args: ConstructorParameters<typeof BasicConv2d>): void {
    this.c[name] = this.registerModule(name, new BasicConv2d(...args));
  }
  /** Applies the named layers in turn. */
  protected chain(x: Tensor, ...names: string[]): Tensor {
    return names.reduce((h, n) => this.c[n]!.forward(h), x);
  }
  abstract forward(x: Tensor): Tensor;
}

/** TensorFlow's 3×3 average pool, which ignores the zero padding (FID's patch). */
function tfAvgPool(x: Tensor): Tensor {
  return torch.avgPool2d(x, 3, { stride: 1, padding: 1, countIncludePad: false });
}

/** 35×35 block (FIDInceptionA): 1×1, 5×5, double 3×3 and pool branches. */
export class InceptionA extends InceptionBlock {
  constructor(inChannels: number, poolFeatures: number) {
    super();
    this.add('branch1x1', inChannels, 64, 1);
    this.add('branch5x5_1', inChannels, 48, 1);
    this.add('branch5x5_2', 48, 64, 5, { padding: 2 });
    this.add('branch3x3dbl_1', inChannels, 64, 1);
    this.add('branch3x3dbl_2', 64, 96, 3, { padding: 1 });
    this.add('branch3x3dbl_3', 96, 96, 3, { padding: 1 });
    this.add('branch_pool', inChannels, poolFeatures, 1);
  }
  forward(x: Tensor): Tensor {
    return torch.tidy(() => torch.cat([
      this.chain(x, 'branch1x1'),
      this.chain(x, 'branch5x5_1', 'branch5x5_2'),
      this.chain(x, 'branch3x3dbl_1', 'branch3x3dbl_2', 'branch3x3dbl_3'),
      this.chain(tfAvgPool(x), 'branch_pool'),
    ], 1)); // (B, 224 + pool, H, W)
  }
}

/** Grid reduction 35 → 17 (InceptionB). */
export class InceptionB extends InceptionBlock {
  constructor(inChannels: number) {
    super();
    this.add('branch3x3', inChannels, 384, 3, { stride: 2 });
    this.add('branch3x3dbl_1', inChannels, 64, 1);
    this.add('branch3x3dbl_2', 64, 96, 3, { padding: 1 });
    this.add('branch3x3dbl_3', 96, 96, 3, { stride: 2 });
  }
  forward(x: Tensor): Tensor {
    return torch.tidy(() => torch.cat([
      this.chain(x, 'branch3x3'),
      this.chain(x, 'branch3x3dbl_1', 'branch3x3dbl_2', 'branch3x3dbl_3'),
      torch.maxPool2d(x, 3, { stride: 2 }),
    ], 1)); // (B, 480 + in, H', W')
  }
}

/** 17×17 block with factorised 7×7 convolutions (FIDInceptionC). */
export class InceptionC extends InceptionBlock {
  constructor(inChannels: number, c7: number) {
    super();
    const row: [Pair, { padding: Pair }] = [[1, 7], { padding: [0, 3] }];
    const col: [Pair, { padding: Pair }] = [[7, 1], { padding: [3, 0] }];
    this.add('branch1x1', inChannels, 192, 1);
    this.add('branch7x7_1', inChannels, c7, 1);
    this.add('branch7x7_2', c7, c7, ...row);
    this.add('branch7x7_3', c7, 192, ...col);
    this.add('branch7x7dbl_1', inChannels, c7, 1);
    this.add('branch7x7dbl_2', c7, c7, ...col);
    this.add('branch7x7dbl_3', c7, c7, ...row);
    this.add('branch7x7dbl_4', c7, c7, ...col);
    this.add('branch7x7dbl_5', c7, 192, ...row);
    this.add('branch_pool', inChannels, 192, 1);
  }
  forward(x: Tensor): Tensor {
    return torch.tidy(() => torch.cat([
      this.chain(x, 'branch1x1'),
      this.chain(x, 'branch7x7_1', 'branch7x7_2', 'branch7x7_3'),
      this.chain(x, 'branch7x7dbl_1', 'branch7x7dbl_2', 'branch7x7dbl_3', 'branch7x7dbl_4', 'branch7x7dbl_5'),
      this.chain(tfAvgPool(x), 'branch_pool'),
    ], 1)); // (B, 768, H, W)
  }
}

/** Grid reduction 17 → 8 (InceptionD). */
export class InceptionD extends InceptionBlock {
  constructor(inChannels: number) {
    super();
    this.add('branch3x3_1', inChannels, 192, 1);
    this.add('branch3x3_2', 192, 320, 3, { stride: 2 });
    this.add('branch7x7x3_1', inChannels, 192, 1);
    this.add('branch7x7x3_2', 192, 192, [1, 7], { padding: [0, 3] });
    this.add('branch7x7x3_3', 192, 192, [7, 1], { padding: [3, 0] });
    this.add('branch7x7x3_4', 192, 192, 3, { stride: 2 });
  }
  forward(x: Tensor): Tensor {
    return torch.tidy(() => torch.cat([
      this.chain(x, 'branch3x3_1', 'branch3x3_2'),
      this.chain(x, 'branch7x7x3_1', 'branch7x7x3_2', 'branch7x7x3_3', 'branch7x7x3_4'),
      torch.maxPool2d(x, 3, { stride: 2 }),
    ], 1)); // (B, 512 + in, H', W')
  }
}

/**
 * 8×8 block with expanded filter banks (FIDInceptionE_1 / _2): the first pools by averaging
 * without the padding, the second by max (a quirk of the FID graph that the weights expect).
 */
export class InceptionE extends InceptionBlock {
  constructor(inChannels: number, readonly pool: 'avg' | 'max') {
    super();
    this.add('branch1x1', inChannels, 320, 1);
    this.add('branch3x3_1', inChannels, 384, 1);
    this.add('branch3x3_2a', 384, 384, [1, 3], { padding: [0, 1] });
    this.add('branch3x3_2b', 384, 384, [3, 1], { padding: [1, 0] });
    this.add('branch3x3dbl_1', inChannels, 448, 1);
    this.add('branch3x3dbl_2', 448, 384, 3, { padding: 1 });
    this.add('branch3x3dbl_3a', 384, 384, [1, 3], { padding: [0, 1] });
    this.add('branch3x3dbl_3b', 384, 384, [3, 1], { padding: [1, 0] });
    this.add('branch_pool', inChannels, 192, 1);
  }
  forward(x: Tensor): Tensor {
    return torch.tidy(() => {
      const b3 = this.chain(x, 'branch3x3_1');
      const b3dbl = this.chain(x, 'branch3x3dbl_1', 'branch3x3dbl_2');
      const pooled = this.pool === 'avg' ? tfAvgPool(x) : torch.maxPool2d(x, 3, { stride: 1, padding: 1 });
      return torch.cat([
        this.chain(x, 'branch1x1'),
        this.chain(b3, 'branch3x3_2a'),
        this.chain(b3, 'branch3x3_2b'),
        this.chain(b3dbl, 'branch3x3dbl_3a'),
        this.chain(b3dbl, 'branch3x3dbl_3b'),
        this.chain(pooled, 'branch_pool'),
      ], 1); // (B, 2048, H, W)
    });
  }
}

/** The stem and the eleven mixed blocks, in torchvision's order and names. */
const LAYERS: [string, () => torch.nn.UnaryModule][] = [
  ['Conv2d_1a_3x3', () => new BasicConv2d(3, 32, 3, { stride: 2 })],
  ['Conv2d_2a_3x3', () => new BasicConv2d(32, 32, 3)],
  ['Conv2d_2b_3x3', () => new BasicConv2d(32, 64, 3, { padding: 1 })],
  ['maxpool1', () => new nn.MaxPool2d(3, { stride: 2 })],
  ['Conv2d_3b_1x1', () => new BasicConv2d(64, 80, 1)],
  ['Conv2d_4a_3x3', () => new BasicConv2d(80, 192, 3)],
  ['maxpool2', () => new nn.MaxPool2d(3, { stride: 2 })],
  ['Mixed_5b', () => new InceptionA(192, 32)],
  ['Mixed_5c', () => new InceptionA(256, 64)],
  ['Mixed_5d', () => new InceptionA(288, 64)],
  ['Mixed_6a', () => new InceptionB(288)],
  ['Mixed_6b', () => new InceptionC(768, 128)],
  ['Mixed_6c', () => new InceptionC(768, 160)],
  ['Mixed_6d', () => new InceptionC(768, 160)],
  ['Mixed_6e', () => new InceptionC(768, 192)],
  ['Mixed_7a', () => new InceptionD(768)],
  ['Mixed_7b', () => new InceptionE(1280, 'avg')],
  ['Mixed_7c', () => new InceptionE(2048, 'max')],
];

/** Side the network was trained at; inputs are resized to it. */
export const INCEPTION_SIZE = 299;
/** Pool3 feature size and the number of logits of the FID network. */
export const INCEPTION_FEATURES = 2048;
export const INCEPTION_CLASSES = 1008;

/** The FID InceptionV3: pool3 features (2048) and logits (1008). */
export class InceptionV3 extends nn.Module {
  readonly layers: torch.nn.UnaryModule[];
  readonly fc: torch.nn.Linear;
  constructor() {
    super();
    this.layers = LAYERS.map(([name, make]) => this.registerModule(name, make()));
    this.fc = this.registerModule('fc', new nn.Linear(INCEPTION_FEATURES, INCEPTION_CLASSES));
  }

  /**
   * @param x (B, 3, H, W) in [−1, 1], any size: resized to 299×299 (bilinear, as pytorch-fid;
   *   resizing commutes with its [0, 1] → [−1, 1] scaling).
   * @returns pool3 features (B, 2048) and logits (B, 1008).
   */
  forward(x: Tensor): FeatureBatch {
    return torch.tidy(() => {
      let h = torch.interpolate(x, { size: [INCEPTION_SIZE, INCEPTION_SIZE], mode: 'bilinear', alignCorners: false }); // (B, 3, 299, 299)
      for (const layer of this.layers) {
        const next = layer.forward(h); // ends (B, 2048, 8, 8)
        h.dispose(); // keeps one activation alive at a time (a batch at 299×299 is large)
        h = next;
      }
      const features = h.mean([2, 3]); // (B, 2048) adaptive average pool to 1×1
      return { features, logits: this.fc.forward(features) }; // logits (B, 1008)
    });
  }
}

/**
 * The Inception feature extractor with weights from a safetensors file (convert pytorch-fid's
 * pt_inception-2015-12-05-6726825d.pth with scripts/convert-inception-weights.py).
 * @param weightsFile the safetensors file.
 * @throws DataError naming the file when it is missing or its names or shapes do not fit.
 */
export function loadInceptionExtractor(weightsFile: string): FeatureExtractor {
  const net = loadWeights(new InceptionV3(), weightsFile, "convert pytorch-fid's .pth with scripts/convert-inception-weights.py");
  return extractorOf('inception', `inception-${fileHash(weightsFile).slice(0, 16)}`, net, { channels: 3, inputSize: null, featureDim: INCEPTION_FEATURES, numClasses: INCEPTION_CLASSES });
}
