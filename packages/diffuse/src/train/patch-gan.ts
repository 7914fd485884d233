// VQGAN's adversarial training of an autoencoder, as a companion of train/simple-loop.ts: the
// generator's side (adversarial term with its adaptive weight, added to the autoencoder loss) and
// the discriminator's own step on the same batch, with its AdamW state saved for bit-exact resume.
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';

import type { Autoencoder } from '../models/autoencoder.js';
import { PatchDiscriminator } from '../models/patch-discriminator.js';
import { adaptiveWeight, discriminatorLoss, generatorLoss } from './adversarial.js';
import type { DiscConfig } from './autoencoder-config.js';
import type { LoopCompanion } from './simple-loop.js';

const WEIGHTS = 'disc.model.';
const OPTIM = 'disc.optim.';

export class PatchGanTraining implements LoopCompanion {
  readonly disc: PatchDiscriminator;
  readonly optimizer: torch.optim.AdamW;
  /** The step's reconstructions, detached, for the discriminator's step (taming recomputes them; this saves a forward). */
  private pending: Tensor | null = null;

  /**
   * @param d the settings (weight > 0). @param lr the autoencoder's lr (used when d.lr is 0).
   * @param seed the discriminator's initialisation comes from its own generator, so the autoencoder
   *   draws the same numbers as a run without it.
   */
  constructor(readonly ae: Autoencoder, readonly d: DiscConfig, lr: number, seed: number) {
    const generator = new torch.Generator({ seed: seed + 1 });
    this.disc = torch.tidy(() => new PatchDiscriminator({ inChannels: ae.config.inChannels, channels: d.channels, numLayers: d.layers, generator }));
    this.optimizer = new torch.optim.AdamW(this.disc.parameters(), { lr: d.lr > 0 ? d.lr : lr, betas: [0.5, 0.9], weightDecay: 0 });
    this.disc.train();
  }

  /** Whether the adversarial term is on at this step (taming's adopt_weight with disc_start). */
  active(step: number): boolean {
    return step >= this.d.start;
  }

  /**
   * The generator's side: L_rec-part + λ·L_G, with λ the adaptive weight at the decoder's last layer.
   * Must run inside the tidy scope of the step's loss. The discriminator's weights get no gradient here.
   * @param loss the autoencoder's loss. @param rec its reconstruction term. @param xrec (B, C, H, W).
   */
  generatorStep(loss: Tensor, rec: Tensor, xrec: Tensor, logs: Record<string, number>): Tensor {
    this.setTrainable(false);
    const gLoss = generatorLoss(this.disc.forward(xrec)); // scalar, from (B, 1, h, w) logits
    const lambda = adaptiveWeight(rec, gLoss, this.ae.decoder.convOut.weight, this.d.weight);
    logs.g_loss = gLoss.item();
    logs.d_weight = lambda;
    this.pending?.dispose();
    this.pending = xrec.detach().keep();
    return loss.add(gLoss.mul(lambda));
  }

  /** The discriminator's step on real x and the pending reconstructions (taming's optimizer_idx 1). */
  step(_step: number, x: Tensor): Record<string, number> {
    const fake = this.pending;
    if (fake === null) return {};
    this.pending = null;
    this.setTrainable(true);
    this.disc.zeroGrad();
    const logs = torch.tidy(() => {
      const logitsReal = this.disc.forward(x); // (B, 1, h, w)
      const logitsFake = this.disc.forward(fake); // (B, 1, h, w)
      const dLoss = discriminatorLoss(logitsReal, logitsFake, this.d.loss);
      dLoss.backward();
      return { d_loss: dLoss.item(), logits_real: logitsReal.mean().item(), logits_fake: logitsFake.mean().item() };
    });
    fake.dispose();
    torch.tidy(() => this.optimizer.step());
    return logs;
  }

  state(): { tensors: Record<string, Tensor>; meta: unknown } {
    const opt = torch.optim.flattenStateDict(this.optimizer.stateDict(), OPTIM);
    const tensors: Record<string, Tensor> = { ...opt.tensors };
    torch.noGrad(() => {
      for (const [k, t] of this.disc.stateDict()) tensors[WEIGHTS + k] = t.clone(); // the loop disposes what it saved
    });
    return { tensors, meta: { optimizer: opt.meta } };
  }

  load(tensors: Record<string, Tensor>, meta: unknown): void {
    const weights = Object.fromEntries(Object.entries(tensors).filter(([k]) => k.startsWith(WEIGHTS)).map(([k, t]) => [k.slice(WEIGHTS.length), t]));
    if (Object.keys(weights).length === 0) throw new Error('it holds no discriminator (it was trained without --disc-weight)');
    this.disc.loadStateDict(weights);
    const m = (meta as { optimizer?: torch.optim.OptimizerStateMeta } | undefined)?.optimizer;
    if (m === undefined) throw new Error('its state.json has no discriminator optimizer');
    this.optimizer.loadStateDict(torch.optim.unflattenStateDict(tensors, m, OPTIM));
  }

  dispose(): void {
    this.pending?.dispose();
    this.optimizer.dispose();
    torch.dispose(Object.fromEntries(this.disc.stateDict()));
  }

  private setTrainable(on: boolean): void {
    for (const p of this.disc.parameters()) p.requiresGrad_(on);
  }
}
