// The phases of progressive distillation (Salimans & Ho 2022, Algorithm 2's outer loop): the
// first teacher samples with DDIM on an N₀-step grid of training timesteps; each phase's student
// keeps every other level of its teacher's grid — the top level and then each second one, so one
// student step spans exactly two teacher steps — halving N until the requested steps remain.
import type { DistillLrDecay, DistillPhase } from '../train/config.js';
import { samplerTimesteps } from '../samplers/timesteps.js';

/**
 * The student grid of one halving: from a teacher grid of 2N timesteps (ascending) the N that
 * the student visits. In descending order d₀ > d₁ > … > d_{2N−1} it keeps d₀, d₂, …, d_{2N−2}, so
 * student step j goes d_{2j} → d_{2j+2} (→ the clean image after the last one), as the teacher's
 * steps j·2 and j·2 + 1 did.
 * @param teacher 2N distinct timesteps, ascending.
 * @returns N timesteps, ascending.
 */
export function halveGrid(teacher: readonly number[]): number[] {
  const n = teacher.length;
  if (n < 2 || n % 2 !== 0) throw new RangeError(`halveGrid: a teacher grid of ${n} timesteps cannot be halved (it needs an even count ≥ 2)`);
  return teacher.filter((_, i) => (n - 1 - i) % 2 === 0);
}

/**
 * The phases from an N₀-step teacher down to `steps`.
 * @param numTimesteps T of the model's schedule.
 * @param teacherSteps N₀: steps · 2^k for some k ≥ 1.
 * @param steps the final student's steps.
 * @param phaseSteps training steps per phase.
 * @param range optional [lo, hi] timesteps the first grid spans (a σ clamp, see timestepRange).
 * @param firstGrid the first teacher's grid when it is not 'uniform' (a distilled student's own,
 *   to distil it further), N₀ timesteps ascending.
 * @returns k phases; phase p trains steps (p·phaseSteps, (p+1)·phaseSteps] and its student has
 *   N₀ / 2^(p+1) steps on the grid recorded in it.
 */
export function distillPhases(
  numTimesteps: number,
  teacherSteps: number,
  steps: number,
  phaseSteps: number,
  range?: readonly [number, number],
  firstGrid?: readonly number[],
): DistillPhase[] {
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`steps must be an integer ≥ 1, got ${steps}`);
  const k = Math.log2(teacherSteps / steps);
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`the teacher's steps (${teacherSteps}) must be the student's (${steps}) times a power of two ≥ 2 (e.g. ${steps * 16})`);
  if (!Number.isInteger(phaseSteps) || phaseSteps < 1) throw new RangeError(`training steps per phase must be an integer ≥ 1, got ${phaseSteps}`);
  let grid = firstGrid !== undefined ? [...firstGrid] : samplerTimesteps(numTimesteps, teacherSteps, 'uniform', range);
  if (grid.length !== teacherSteps) throw new RangeError(`the teacher's grid has ${grid.length} timesteps, not ${teacherSteps}`);
  const phases: DistillPhase[] = [];
  for (let p = 0; p < k; p++) {
    grid = halveGrid(grid);
    phases.push({ steps: grid.length, timesteps: grid, fromStep: p * phaseSteps, toStep: (p + 1) * phaseSteps });
  }
  return phases;
}

/**
 * The phase a training step belongs to while training: step s (steps done) trains phase
 * ⌊s / phaseSteps⌋ next.
 * @param phases the run's phases; @param step steps done.
 * @returns the phase index (the last one past the end).
 */
export function trainingPhase(phases: readonly DistillPhase[], step: number): number {
  const i = phases.findIndex((p) => step >= p.fromStep && step < p.toStep);
  return i === -1 ? phases.length - 1 : i;
}

/**
 * The student a checkpoint holds: the phase whose training steps (fromStep, toStep] include its
 * step (a checkpoint at a phase's last step is that phase's student).
 * @param phases the run's phases; @param step the checkpoint's step (≥ 1).
 * @returns the phase (the first one for step 0: the teacher's weights, distilled for nothing yet).
 */
export function checkpointPhase(phases: readonly DistillPhase[], step: number): DistillPhase {
  return phases.find((p) => step > p.fromStep && step <= p.toStep) ?? (step <= 0 ? phases[0]! : phases[phases.length - 1]!);
}

/**
 * The teacher grid of a phase: the previous phase's student grid, or the first teacher's.
 * @param phases the run's phases; @param i the phase index.
 * @param first the first teacher's grid (samplerTimesteps of N₀).
 */
export function teacherGrid(phases: readonly DistillPhase[], i: number, first: readonly number[]): readonly number[] {
  return i === 0 ? first : phases[i - 1]!.timesteps;
}

/**
 * The learning-rate factor of a training step under a per-phase decay: 1 throughout ('constant'),
 * or 1 − (s − fromStep)/(toStep − fromStep) within each phase ('linear': from 1 at the phase's first
 * step towards 0 at its last, as the paper anneals each distillation iteration to zero).
 * @param phases the run's phases; @param step steps done (the step about to be trained).
 */
export function phaseLrFactor(phases: readonly DistillPhase[], step: number, decay: DistillLrDecay): number {
  if (decay === 'constant') return 1;
  const p = phases[trainingPhase(phases, step)]!;
  return 1 - Math.min(1, Math.max(0, (step - p.fromStep) / (p.toStep - p.fromStep)));
}
