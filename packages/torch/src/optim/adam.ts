// Adam (Kingma & Ba 2015) with optional AMSGrad (Reddi et al. 2018) and L2 weight decay coupled
// to the gradient: PyTorch 1.13's single-tensor Adam, op for op. AdamW reuses this update with
// the decay decoupled.
import { zerosLike } from '../creation.js';
import type { Tensor } from '../tensor.js';
import { Optimizer, stateTensor, withDefaults, type BaseOptions, type ParamGroup, type ParamsArg, type ParamState } from './optimizer.js';

export interface AdamOptions extends BaseOptions {
  /** (β1, β2): decay rates of the first and second moment estimates. */
  betas: [number, number];
  /** ε: added to the denominator for numerical stability. */
  eps: number;
  /** λ: weight decay (Adam: an L2 term in the gradient; AdamW: decoupled). */
  weightDecay: number;
  /** Normalize by the running maximum of the second moment (AMSGrad). */
  amsgrad: boolean;
  /** Ascend the objective instead of descending it. */
  maximize: boolean;
}

export const ADAM_DEFAULTS: AdamOptions = { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false, maximize: false };

export class Adam extends Optimizer<AdamOptions> {
  /**
   * @param params tensors to optimize, or groups of them with their own options.
   * @param options override PyTorch's defaults (lr 1e-3, betas [0.9, 0.999], eps 1e-8, no decay).
   */
  constructor(params: ParamsArg<AdamOptions>, options: Partial<AdamOptions> = {}) {
    super(params, withDefaults(ADAM_DEFAULTS, options));
  }

  /** AdamW shrinks θ directly (θ ← θ(1 - γλ)) instead of adding λθ to the gradient. */
  protected get decoupledWeightDecay(): boolean {
    return false;
  }

  protected override validateOptions(o: AdamOptions): void {
    super.validateOptions(o);
    if (!(o.eps >= 0)) throw new RangeError(`Invalid epsilon value: ${o.eps}`);
    const [b1, b2] = o.betas;
    if (!(b1! >= 0 && b1! < 1)) throw new RangeError(`Invalid beta parameter at index 0: ${b1}`);
    if (!(b2! >= 0 && b2! < 1)) throw new RangeError(`Invalid beta parameter at index 1: ${b2}`);
    if (!(o.weightDecay >= 0)) throw new RangeError(`Invalid weight_decay value: ${o.weightDecay}`);
  }

  protected override updateParam(param: Tensor, grad: Tensor, state: ParamState, group: ParamGroup<AdamOptions>): void {
    const [beta1, beta2] = group.betas;
    const { lr, eps, weightDecay } = group;
    let g = group.maximize ? grad.neg() : grad; // same shape as param
    const expAvg = stateTensor(state, 'exp_avg') ?? (state.exp_avg = zerosLike(param).keep());
    const expAvgSq = stateTensor(state, 'exp_avg_sq') ?? (state.exp_avg_sq = zerosLike(param).keep());
    const step = (typeof state.step === 'number' ? state.step : 0) + 1;
    state.step = step;

    // 1. Weight decay: AdamW decays θ itself; Adam adds the L2 gradient λθ.
    if (this.decoupledWeightDecay) {
      if (weightDecay !== 0) param.mul_(1 - lr * weightDecay);
    } else if (weightDecay !== 0) {
      g = g.add(param, weightDecay);
    }
    // 2. Moment estimates: m_t = β1 m + (1 - β1) g,  v_t = β2 v + (1 - β2) g².
    expAvg.mul_(beta1).add_(g, 1 - beta1);
    expAvgSq.mul_(beta2).addcmul_(g, g, 1 - beta2);
    // 3. Bias corrections 1 - β^t, folded into the step size and the denominator.
    const biasCorrection1 = 1 - beta1 ** step;
    const biasCorrection2 = 1 - beta2 ** step;
    const stepSize = lr / biasCorrection1;
    // 4. AMSGrad normalizes by the largest v seen so far.
    let v = expAvgSq;
    if (group.amsgrad) {
      const maxSq = stateTensor(state, 'max_exp_avg_sq') ?? (state.max_exp_avg_sq = zerosLike(param).keep());
      maxSq.copy_(maxSq.maximum(expAvgSq));
      v = maxSq;
    }
    // 5. θ_t = θ - (γ / (1 - β1^t)) m_t / (√v_t / √(1 - β2^t) + ε).
    const denom = v.sqrt().div(Math.sqrt(biasCorrection2)).add_(eps); // same shape as param
    param.addcdiv_(expAvg, denom, -stepSize);
  }
}
