// Distillation to few-step samplers: progressive distillation (Salimans & Ho 2022).
export { ddimStep, twoStepTarget, type Level } from './target.js';
export { distillWeight, DISTILL_WEIGHTINGS, type DistillWeighting } from './weighting.js';
export { checkpointPhase, distillPhases, halveGrid, phaseLrFactor, teacherGrid, trainingPhase } from './schedule.js';
export { progressiveDistillationLoss, type DistillLoss } from './progressive.js';
