// Classifier-free guidance (Ho & Salimans 2022): one model trained with its label dropped to a
// "null" class some of the time predicts both ε(x_t, y) and ε(x_t, ∅); sampling uses
//   ε̃ = ε_u + s (ε_c − ε_u),     ε_c = ε(x_t, y), ε_u = ε(x_t, ∅).
// Seed 002's sample_w writes the same thing as e = w·e_keep + (1−w)·e_drop: expand w·ε_c + ε_u −
// w·ε_u = ε_u + w(ε_c − ε_u), so s = w. s = 1 gives the conditional model (no guidance), s = 0 the
// unconditional one, s > 1 sharpens p(y|x)^(s−1). As in sample_w, both branches run as one
// forward over the doubled batch [x; x] with labels [y; ∅].
// The combination is affine with weights summing to one, so mixing x_0 or v predictions gives
// exactly the ε mix; it is applied to the first C channels whatever they predict. A learned
// variance (channels C..2C) is taken from the conditional branch.
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';
import type { ModelFn, ModelKwargs } from '../diffusion/enums.js';

/** Classifier-free guidance for `sample(..., { guidance })` or classifierFreeGuidance(). */
export interface ClassifierFreeGuidance {
  kind: 'classifier-free';
  /** The guidance scale s (seed 002's w): 1 = conditional, 0 = unconditional. */
  scale: number;
  /** The label that means "no class", used for the unconditional branch (often numClasses). */
  nullClass: number;
  /** The kwargs entry holding the labels y (B,) (default 'y'). */
  labelKey?: string;
}

/**
 * Wraps a label-conditional model into its guided version.
 * @param model a model trained with label dropout (takes `kwargs[labelKey]` int64 (B,)).
 * @param guidance the scale s, the null class and the label key.
 * @returns a ModelFn: (x (B, C, H, W), t (B,), kwargs) → (B, C or 2C, H, W), making one model
 *   call on a batch of 2B. Other tensor kwargs with a batch dimension of B are doubled too.
 */
export function classifierFreeGuidance(model: ModelFn, guidance: Omit<ClassifierFreeGuidance, 'kind'>): ModelFn {
  const labelKey = guidance.labelKey ?? 'y';
  const s = guidance.scale;
  return (x: Tensor, t: Tensor, kwargs: ModelKwargs): Tensor =>
    torch.tidy(() => {
      const y = kwargs[labelKey];
      if (y === undefined) throw new Error(`classifier-free guidance: model kwargs have no '${labelKey}' labels`);
      const [B, C] = x.shape as [number, number];
      const doubled: ModelKwargs = {};
      for (const [key, value] of Object.entries(kwargs)) {
        if (key === labelKey || value === undefined) continue;
        doubled[key] = value.ndim > 0 && value.size(0) === B ? torch.cat([value, value]) : value;
      }
      doubled[labelKey] = torch.cat([y, torch.fullLike(y, guidance.nullClass)]); // (2B,)
      const out = model(torch.cat([x, x]), torch.cat([t, t]), doubled); // (2B, C or 2C, H, W)
      const [cond, uncond] = out.chunk(2, 0) as [Tensor, Tensor]; // (B, C or 2C, H, W) each
      const predC = cond.narrow(1, 0, C); // (B, C, H, W)
      const predU = uncond.narrow(1, 0, C); // (B, C, H, W)
      const guided = predU.add(predC.sub(predU).mul(s)); // (B, C, H, W)
      const extra = out.size(1) - C;
      return extra > 0 ? torch.cat([guided, cond.narrow(1, C, extra)], 1) : guided; // (B, C or 2C, H, W)
    });
}
