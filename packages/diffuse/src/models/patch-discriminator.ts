// The patch discriminator of VQGAN (Esser et al. 2021): pix2pix's PatchGAN, as taming-transformers'
// NLayerDiscriminator — strided 4×4 convolutions with LeakyReLU(0.2) and BatchNorm, ending in a
// map of real/fake logits, one per overlapping image patch. It only lives during autoencoder
// training (train/adversarial.ts); the autoencoder checkpoint keeps it beside the optimizer state.
import * as torch from '@diffuse/torch';
import { nn, type Tensor, type Generator } from '@diffuse/torch';

export interface PatchDiscriminatorOptions {
  /** Image channels. */
  inChannels: number;
  /** Width of the first layer (taming's ndf); doubles per layer up to 8×. */
  channels: number;
  /** Strided layers (taming's n_layers): the patch a logit sees grows with it. */
  numLayers: number;
  /** Initialisation: N(0, 0.02) convolution weights, N(1, 0.02) BatchNorm scales (taming's weights_init). */
  generator?: Generator;
}

/** A 4×4 convolution, then BatchNorm (when given) and LeakyReLU(0.2). */
class DiscBlock extends nn.Module {
  readonly conv: nn.Conv2d;
  readonly norm: nn.BatchNorm2d | null;
  constructor(inC: number, outC: number, stride: number, norm: boolean, generator?: Generator) {
    super();
    // A conv followed by BatchNorm has no bias (the norm's shift replaces it), as taming.
    this.conv = this.registerModule('conv', new nn.Conv2d(inC, outC, 4, { stride, padding: 1, bias: !norm, generator }));
    this.norm = norm ? this.registerModule('norm', new nn.BatchNorm2d(outC)) : null;
  }
  /** @param x (B, Cin, H, W) @returns (B, Cout, H', W') */
  forward(x: Tensor): Tensor {
    return torch.tidy(() => {
      let h = this.conv.forward(x); // (B, Cout, H', W')
      if (this.norm !== null) h = this.norm.forward(h);
      return torch.call<Tensor>('aten::leaky_relu', [h, 0.2]);
    });
  }
}

/**
 * The side of the logit map for an image side: n stride-2 convolutions (k 4, p 1) halve it
 * (floor((s − 2)/2) + 1), then two stride-1 ones each take one pixel off.
 */
export function patchMapSize(imageSize: number, numLayers: number): number {
  let s = imageSize;
  for (let i = 0; i < numLayers; i++) s = Math.floor((s - 2) / 2) + 1;
  return s - 2;
}

/**
 * Checks that the discriminator leaves at least a 1×1 logit map.
 * @throws RangeError with one line otherwise.
 */
export function validatePatchDiscriminator(imageSize: number, numLayers: number): void {
  if (!Number.isInteger(numLayers) || numLayers < 1) throw new RangeError(`the patch discriminator needs at least 1 layer, got ${numLayers}`);
  if (patchMapSize(imageSize, numLayers) < 1) {
    let most = 0;
    while (patchMapSize(imageSize, most + 1) >= 1) most++;
    throw new RangeError(`a ${numLayers}-layer patch discriminator leaves no logits for ${imageSize}×${imageSize} images; use --disc-layers ${most} or fewer`);
  }
}

/** PatchGAN: (B, C, H, W) images → (B, 1, h, w) logits, one per patch (taming's NLayerDiscriminator). */
export class PatchDiscriminator extends nn.Module {
  readonly main: nn.Sequential;

  constructor(readonly options: PatchDiscriminatorOptions) {
    super();
    const { inChannels, channels: ndf, numLayers, generator: g } = options;
    const width = (n: number): number => ndf * Math.min(2 ** n, 8);
    const layers: nn.UnaryModule[] = [new DiscBlock(inChannels, ndf, 2, false, g)];
    for (let n = 1; n < numLayers; n++) layers.push(new DiscBlock(width(n - 1), width(n), 2, true, g));
    layers.push(new DiscBlock(width(numLayers - 1), width(numLayers), 1, true, g));
    const out = new nn.Conv2d(width(numLayers), 1, 4, { stride: 1, padding: 1, generator: g });
    layers.push(out);
    this.main = this.registerModule('main', new nn.Sequential(...layers));
    torch.noGrad(() => {
      for (const m of this.modules()) {
        if (m instanceof nn.Conv2d) nn.init.normal_(m.weight, 0, 0.02, g);
        else if (m instanceof nn.BatchNorm2d) {
          nn.init.normal_(m.weight!, 1, 0.02, g);
          nn.init.zeros_(m.bias!);
        }
      }
    });
  }

  /** @param x (B, C, H, W) in [−1, 1] @returns (B, 1, h, w) patch logits */
  forward(x: Tensor): Tensor {
    return this.main.forward(x);
  }
}
