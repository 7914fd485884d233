// Stochastic gradient descent with optional momentum, dampening, Nesterov momentum, L2 weight
// decay and maximization: PyTorch 1.13's single-tensor SGD, op for op.
import type { Tensor } from '../tensor.js';
import { Optimizer, stateTensor, withDefaults, type BaseOptions, type ParamGroup, type ParamsArg, type ParamState } from './optimizer.js';

export interface SGDOptions extends BaseOptions {
  /** μ: momentum factor (0 turns momentum off). */
  momentum: number;
  /** τ: dampening of the gradient added to the momentum buffer. */
  dampening: number;
  /** λ: L2 penalty added to the gradient. */
  weightDecay: number;
  /** Nesterov momentum (Sutskever et al. 2013); needs momentum > 0 and dampening 0. */
  nesterov: boolean;
  /** Ascend the objective instead of descending it. */
  maximize: boolean;
}

const SGD_DEFAULTS: Omit<SGDOptions, 'lr'> = { momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false };

export class SGD extends Optimizer<SGDOptions> {
  /**
   * @param params tensors to optimize, or groups of them with their own options.
   * @param options `lr` is required (as in PyTorch); the rest default to plain SGD.
   */
  constructor(params: ParamsArg<SGDOptions>, options: Partial<SGDOptions> & { lr: number }) {
    super(params, withDefaults({ ...SGD_DEFAULTS, lr: options.lr }, options));
  }

  protected override validateOptions(o: SGDOptions): void {
    super.validateOptions(o);
    if (!(o.momentum >= 0)) throw new RangeError(`Invalid momentum value: ${o.momentum}`);
    if (!(o.weightDecay >= 0)) throw new RangeError(`Invalid weight_decay value: ${o.weightDecay}`);
    if (o.nesterov && (o.momentum <= 0 || o.dampening !== 0)) {
      throw new RangeError('Nesterov momentum requires a momentum and zero dampening');
    }
  }

  protected override updateParam(param: Tensor, grad: Tensor, state: ParamState, group: ParamGroup<SGDOptions>): void {
    // 1. g_t ← ∇θ f_t(θ_{t-1}) (negated to maximize), plus λ θ_{t-1} for weight decay.
    let dP = group.maximize ? grad.neg() : grad; // same shape as param
    if (group.weightDecay !== 0) dP = dP.add(param, group.weightDecay);
    // 2. b_t ← μ b_{t-1} + (1 - τ) g_t, starting from b_1 = g_t.
    if (group.momentum !== 0) {
      let buf = stateTensor(state, 'momentum_buffer');
      if (buf === undefined) {
        buf = dP.clone().keep();
        state.momentum_buffer = buf;
      } else {
        buf.mul_(group.momentum).add_(dP, 1 - group.dampening);
      }
      // 3. Nesterov looks ahead along the buffer: g_t ← g_t + μ b_t; otherwise g_t ← b_t.
      dP = group.nesterov ? dP.add(buf, group.momentum) : buf;
    }
    // 4. θ_t ← θ_{t-1} - γ g_t.
    param.add_(dP, -group.lr);
  }
}
