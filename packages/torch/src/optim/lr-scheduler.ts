// Learning-rate schedules as pure functions of the step (a factor on each group's base lr), and
// a scheduler that writes base lr × factor into the optimizer's groups.
import type { BaseOptions, Optimizer } from './optimizer.js';

/** A schedule: the factor on the base lr at a step (0-based). */
export type LrSchedule = (step: number) => number;

function checkSteps(name: string, n: number): void {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`${name}: steps must be a non-negative integer, got ${n}`);
}

/** The base lr at every step. */
export function constantSchedule(): LrSchedule {
  return () => 1;
}

/**
 * Linear warmup from 0: factor step / warmupSteps, then 1 (the convention of transformers' and
 * diffusers' schedulers: the first step runs at lr 0).
 * @param warmupSteps steps to reach the base lr (0: no warmup).
 */
export function linearWarmup(warmupSteps: number): LrSchedule {
  checkSteps('linearWarmup', warmupSteps);
  return (step) => (step < warmupSteps ? step / warmupSteps : 1);
}

/**
 * Linear decay to 0 at totalSteps: factor 1 - step / totalSteps (improved-diffusion's
 * lr_anneal_steps), 0 afterwards.
 * @param totalSteps the step at which the lr reaches 0.
 */
export function linearAnneal(totalSteps: number): LrSchedule {
  checkSteps('linearAnneal', totalSteps);
  return (step) => (totalSteps === 0 ? 0 : Math.max(0, 1 - step / totalSteps));
}

/**
 * Half-cosine decay from 1 to minFactor over totalSteps (SGDR without restarts), minFactor after.
 * @param totalSteps length of the decay.
 * @param minFactor the final factor (0: decay to lr 0).
 */
export function cosineDecay(totalSteps: number, minFactor = 0): LrSchedule {
  checkSteps('cosineDecay', totalSteps);
  return (step) => {
    const progress = totalSteps === 0 ? 1 : Math.min(1, step / totalSteps);
    return minFactor + (1 - minFactor) * 0.5 * (1 + Math.cos(Math.PI * progress));
  };
}

/**
 * Linear warmup followed by another schedule, which starts at its own step 0 when warmup ends.
 * @param warmupSteps steps of linear warmup (factor step / warmupSteps).
 * @param after the schedule after warmup, e.g. cosineDecay(total - warmup).
 */
export function withWarmup(warmupSteps: number, after: LrSchedule): LrSchedule {
  checkSteps('withWarmup', warmupSteps);
  return (step) => (step < warmupSteps ? step / warmupSteps : after(step - warmupSteps));
}

/**
 * Linear warmup then cosine decay to minFactor at totalSteps (transformers'
 * get_cosine_schedule_with_warmup when minFactor is 0).
 * @param warmupSteps steps of warmup.
 * @param totalSteps the step at which the decay ends (counting warmup).
 * @param minFactor the final factor.
 */
export function cosineWithWarmup(warmupSteps: number, totalSteps: number, minFactor = 0): LrSchedule {
  if (totalSteps < warmupSteps) throw new RangeError(`cosineWithWarmup: totalSteps ${totalSteps} < warmupSteps ${warmupSteps}`);
  return withWarmup(warmupSteps, cosineDecay(totalSteps - warmupSteps, minFactor));
}

/** What a scheduler saves: its step and the base lrs. */
export interface LrSchedulerState {
  step: number;
  baseLrs: number[];
}

/**
 * Sets each group's lr to baseLr × schedule(step). As PyTorch's LambdaLR: construction applies
 * step 0; call `step()` after each `optimizer.step()`.
 */
export class LrScheduler {
  readonly baseLrs: number[];
  #step = 0;

  /**
   * @param optimizer its groups' current lrs become the base lrs.
   * @param schedule one schedule for all groups, or one per group.
   */
  constructor(
    readonly optimizer: Optimizer<BaseOptions>,
    readonly schedule: LrSchedule | LrSchedule[],
  ) {
    if (Array.isArray(schedule) && schedule.length !== optimizer.paramGroups.length) {
      throw new Error(`LrScheduler: ${schedule.length} schedules for ${optimizer.paramGroups.length} parameter groups`);
    }
    this.baseLrs = optimizer.paramGroups.map((g) => g.lr);
    this.apply();
  }

  /** The step whose lr the groups hold now. */
  get lastStep(): number {
    return this.#step;
  }

  /** Advances one step and sets the groups' lr for it. */
  step(): void {
    this.#step += 1;
    this.apply();
  }

  /** The lr of each group at `step` (without changing anything). */
  lrsAt(step: number): number[] {
    return this.baseLrs.map((base, i) => base * this.scheduleFor(i)(step));
  }

  /** The lrs the groups hold now. */
  getLastLr(): number[] {
    return this.optimizer.paramGroups.map((g) => g.lr);
  }

  stateDict(): LrSchedulerState {
    return { step: this.#step, baseLrs: this.baseLrs.slice() };
  }

  /** Restores a saved step and base lrs and sets the groups' lr for that step. */
  loadStateDict(state: LrSchedulerState): void {
    if (state.baseLrs.length !== this.baseLrs.length) {
      throw new Error(`LrScheduler.loadStateDict: ${state.baseLrs.length} base lrs for ${this.baseLrs.length} groups`);
    }
    checkSteps('LrScheduler.loadStateDict', state.step);
    this.baseLrs.splice(0, this.baseLrs.length, ...state.baseLrs);
    this.#step = state.step;
    this.apply();
  }

  private scheduleFor(i: number): LrSchedule {
    return Array.isArray(this.schedule) ? this.schedule[i]! : this.schedule;
  }

  private apply(): void {
    const lrs = this.lrsAt(this.#step);
    this.optimizer.paramGroups.forEach((g, i) => (g.lr = lrs[i]!));
  }
}
