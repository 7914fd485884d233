// The adversarial part of VQGAN's autoencoder loss (Esser et al. 2021, taming-transformers'
// vqperceptual.py): the discriminator's hinge (or vanilla) loss, the generator's −mean D(x̂), and
// the adaptive weight that balances it against the reconstruction loss at the decoder's last layer.
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';

export type DiscLoss = 'hinge' | 'vanilla';

/**
 * The discriminator's loss on real and reconstructed patches (taming's hinge_d_loss / vanilla_d_loss).
 * hinge: ½(mean relu(1 − D(x)) + mean relu(1 + D(x̂))); vanilla: ½(mean softplus(−D(x)) + mean softplus(D(x̂))).
 * @param logitsReal (B, 1, h, w) D(x) @param logitsFake (B, 1, h, w) D(x̂) @returns a scalar
 */
export function discriminatorLoss(logitsReal: Tensor, logitsFake: Tensor, kind: DiscLoss = 'hinge'): Tensor {
  return torch.tidy(() => {
    const real = kind === 'hinge' ? logitsReal.neg().add(1).relu() : logitsReal.neg().softplus(); // (B, 1, h, w)
    const fake = kind === 'hinge' ? logitsFake.add(1).relu() : logitsFake.softplus(); // (B, 1, h, w)
    return real.mean().add(fake.mean()).mul(0.5);
  });
}

/** The generator's adversarial loss −mean D(x̂) (taming uses it for both D losses). @param logitsFake (B, 1, h, w) */
export function generatorLoss(logitsFake: Tensor): Tensor {
  return logitsFake.mean().neg();
}

/**
 * VQGAN's adaptive weight (eq. 7; taming's calculate_adaptive_weight):
 * λ = ‖∇_{G_L} L_rec‖ / (‖∇_{G_L} L_G‖ + 1e−4), clamped to [0, 10⁴], times discWeight — so the
 * adversarial gradient at the decoder's last layer G_L is as large as the reconstruction's.
 * Keeps the graph (the total loss backpropagates through it afterwards).
 * @param recLoss scalar L_rec. @param gLoss scalar L_G. @param lastLayer G_L (the decoder's last weight).
 * @returns λ as a number (detached).
 */
export function adaptiveWeight(recLoss: Tensor, gLoss: Tensor, lastLayer: Tensor, discWeight: number): number {
  return torch.tidy(() => {
    const [recGrad] = torch.autograd.grad(recLoss, lastLayer, { retainGraph: true }); // like G_L
    const [gGrad] = torch.autograd.grad(gLoss, lastLayer, { retainGraph: true }); // like G_L
    const ratio = recGrad!.norm().item() / (gGrad!.norm().item() + 1e-4);
    return Math.min(Math.max(ratio, 0), 1e4) * discWeight;
  });
}
