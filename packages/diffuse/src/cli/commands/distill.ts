// `diffuse distill`: progressive distillation (Salimans & Ho 2022) of a trained model into a
// student that samples in --steps DDIM steps. The loop is `diffuse train`'s (log.jsonl, previews,
// checkpoints, EMA, bit-exact --resume, SIGINT) with the distillation loss plugged in; every
// phase halves the steps, and its last checkpoint is an ordinary checkpoint of that phase's
// student, its DDIM grid recorded in it (`diffuse sample --checkpoint OUT` uses it).
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';

import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';

import { checkpointPhase, distillPhases, phaseLrFactor, teacherGrid, trainingPhase } from '../../distill/schedule.js';
import { progressiveDistillationLoss } from '../../distill/progressive.js';
import { DISTILL_WEIGHTINGS, type DistillWeighting } from '../../distill/weighting.js';
import { loadPipeline, resolveModelPath, type Pipeline } from '../../pipeline/load.js';
import { DiscreteSigmas } from '../../samplers/sigmas.js';
import { samplerTimesteps, timestepRange } from '../../samplers/timesteps.js';
import { stepDirName } from '../../train/checkpoint.js';
import type { DistillLrDecay, DistillRunConfig, TrainConfig } from '../../train/config.js';
import { learningRate } from '../../train/trainer.js';
import type { EMA } from '../../train/ema.js';
import type { Precision } from '../../models/precision.js';
import { UsageError, type FlagSpec } from '../args.js';
import { applyMachineFlags, DEVICE_FLAG, THREADS_FLAG } from '../common-flags.js';
import type { Command } from '../main.js';
import { runTraining, SIGNAL_EXIT } from '../run-training.js';
import { adapterRunSettings, ADAPTER_TRAIN_FLAGS, resumeAdapterRun } from '../adapter-run.js';
import { emaOption, refuseClipModel } from './sample.js';

/** The training flags that apply (a phase has a fixed length: no --steps/--minutes budget). */
const TRAIN_FLAGS = ADAPTER_TRAIN_FLAGS.filter((f) => f.key !== 'steps' && f.key !== 'minutes');

const DISTILL_FLAGS: FlagSpec[] = [
  { key: 'checkpoint', type: 'string', help: "the teacher: a training output folder, a checkpoint directory, or a shipped model name (e.g. 'digits-cpu')", group: 'Distillation' },
  { key: 'ema', type: 'string', help: "the teacher's EMA rate, or 'none' for its raw weights", defaultText: 'its first EMA rate' },
  { key: 'steps', type: 'int', min: 1, help: "the final student's DDIM steps" },
  { key: 'teacherSteps', type: 'int', min: 2, help: "the first teacher's DDIM steps: --steps times a power of two", defaultText: "a distilled teacher's own steps (and grid), else the smallest ≥ 64" },
  { key: 'phaseSteps', type: 'int', min: 1, help: 'training steps per halving', defaultText: '500' },
  { key: 'lrDecay', type: 'string', choices: ['constant', 'linear'], help: 'the learning rate within each phase: constant, or annealed linearly to 0 (the paper)', defaultText: 'linear' },
  { key: 'weighting', type: 'string', choices: DISTILL_WEIGHTINGS, help: 'weight of the x̂ error: max(SNR, 1) or SNR + 1 (the v loss)', defaultText: 'truncated-snr' },
  { key: 'sigmaMax', type: 'float', help: "the first teacher's grid starts no higher than this σ = √((1−ᾱ)/ᾱ)", defaultText: "80 for ε-prediction models, else the model's σ(T−1)" },
  { key: 'out', type: 'string', help: 'output folder (checkpoints/: one student per phase; log.jsonl, loss.png, report.html, previews/)', group: 'Run' },
  { key: 'resume', type: 'bool', help: 'continue the distillation in --out from its latest checkpoint (bit-exact)' },
];

/** A stored teacher of a phase after the first: OUT/distill/teacher-phase-P.safetensors. */
function teacherFile(out: string, phase: number): string {
  return path.join(out, 'distill', `teacher-phase-${phase}.safetensors`);
}

/** The run's config: the teacher's model and diffusion, distillation's optimizer and phases. */
function distillConfig(teacher: Pipeline, f: Record<string, unknown>, checkpoint: string): TrainConfig {
  const steps = f.steps as number | undefined;
  if (steps === undefined) throw new UsageError("'diffuse distill' needs --steps N (the student's DDIM steps, e.g. 4)");
  // A distilled student as the teacher goes on halving its own grid (the one it was trained for).
  const own = teacher.config.distill === undefined ? undefined : checkpointPhase(teacher.config.distill.phases, teacher.step);
  let teacherSteps = (f.teacherSteps as number | undefined) ?? own?.steps;
  if (teacherSteps === undefined) for (teacherSteps = steps * 2; teacherSteps < 64; teacherSteps *= 2);
  const firstGrid = own !== undefined && own.steps === teacherSteps ? own.timesteps : undefined;
  const phaseSteps = (f.phaseSteps as number | undefined) ?? 500;
  const base = teacher.config;
  const ac = teacher.spec.alphasCumprod;
  // An ε-model's x̂ = (z − σ ε̂)/α multiplies its error by σ/α ≈ 10⁴ at the cosine schedule's top
  // level, and distillation regresses x̂ (the paper switches such models to x- or v-prediction):
  // its first grid starts at σ = 80 (the EDM choice) unless told otherwise.
  const sigmaMax = (f.sigmaMax as number | undefined) ?? (base.diffusion.meanType === 'epsilon' ? 80 : undefined);
  if (sigmaMax !== undefined && !(sigmaMax > 0)) throw new UsageError(`--sigma-max: must be a noise level > 0, got ${sigmaMax}`);
  const range = timestepRange(new DiscreteSigmas(ac).sigmas, undefined, sigmaMax);
  let phases;
  try {
    phases = distillPhases(ac.length, teacherSteps, steps, phaseSteps, range, firstGrid);
  } catch (e) {
    throw new UsageError(`--steps ${steps} --teacher-steps ${teacherSteps}: ${(e as Error).message}`);
  }
  const settings = adapterRunSettings(base, { ...f, lr: f.lr ?? 2e-4 } as never);
  settings.run.steps = phaseSteps * phases.length;
  if (f.data === undefined) settings.run.data = base.run.data; // distil on what the teacher learned
  if (f.saveInterval === undefined) settings.run.saveInterval = phaseSteps; // every phase's student is kept
  if (f.keepCheckpoints === undefined) settings.run.keepCheckpoints = phases.length;
  const named = !existsSync(checkpoint) && resolveModelPath(checkpoint) !== checkpoint;
  const distill: DistillRunConfig = {
    method: 'progressive',
    teacher: named ? checkpoint : path.resolve(checkpoint),
    teacherEma: teacher.emaRate,
    teacherSteps,
    teacherTimesteps: firstGrid !== undefined ? [...firstGrid] : samplerTimesteps(ac.length, teacherSteps, 'uniform', range),
    weighting: ((f.weighting as DistillWeighting | undefined) ?? 'truncated-snr'),
    phases,
    lrDecay: (f.lrDecay as DistillLrDecay | undefined) ?? 'linear',
  };
  return { model: structuredClone(base.model), diffusion: structuredClone(base.diffusion), ...settings, distill };
}

/**
 * The phase boundaries and the teacher: before the first step of phase p > 0, the student's EMA
 * weights (the raw ones without EMA) become the new teacher and the student's starting point (the
 * EMA restarts there), and are stored so that a resume in the middle of the phase finds them.
 */
function phaseKeeper(cfg: TrainConfig, teacher: Pipeline, out: string): { phase: () => number; beforeStep: (step: number, t: { params: Tensor[]; ema: EMA }) => void } {
  const d = cfg.distill!;
  const names = teacher.model.namedParameters().map(([n]) => n);
  const teacherParams = teacher.model.namedParameters().map(([, p]) => p);
  let loaded = 0; // the first teacher is in place
  return {
    phase: () => loaded,
    beforeStep(step, { params, ema }) {
      const p = trainingPhase(d.phases, step);
      if (p === loaded) return;
      const file = teacherFile(out, p);
      torch.noGrad(() => {
        if (step === d.phases[p]!.fromStep) {
          const rate = cfg.optim.emaRates[0];
          const src = rate === undefined ? params : ema.shadows.get(rate)!;
          const next = src.map((t) => t.detach().clone());
          for (let i = 0; i < next.length; i++) {
            teacherParams[i]!.copy_(next[i]!);
            params[i]!.copy_(next[i]!);
            for (const shadow of ema.shadows.values()) shadow[i]!.copy_(next[i]!);
          }
          mkdirSync(path.dirname(file), { recursive: true });
          torch.saveSafetensors(file, Object.fromEntries(names.map((n, i) => [n, next[i]!])), { phase: String(p), step: String(step) });
          torch.dispose(next);
        } else {
          // A resume in the middle of phase p: its teacher was stored when the phase began.
          const { tensors } = torch.loadSafetensors(file);
          try {
            names.forEach((n, i) => teacherParams[i]!.copy_(tensors[n]!));
          } finally {
            torch.dispose(tensors);
          }
        }
      });
      loaded = p;
      console.log(`phase ${p + 1}/${d.phases.length}: ${d.phases[p]!.steps * 2} → ${d.phases[p]!.steps} steps`);
    },
  };
}

export const command: Command = {
  spec: {
    name: 'distill',
    summary: 'progressive distillation: a student that samples in a few DDIM steps (Salimans & Ho 2022)',
    usage: 'diffuse distill --checkpoint TEACHER --steps 4 --out DIR [--teacher-steps 64] [--phase-steps 500] [--weighting truncated-snr|snr+1]',
    config: true,
    flags: [...DISTILL_FLAGS, ...TRAIN_FLAGS, THREADS_FLAG, DEVICE_FLAG],
  },
  async run(args) {
    const f = args.flags;
    const device = applyMachineFlags(f);
    const out = f.out as string | undefined;
    if (out === undefined) throw new UsageError("'diffuse distill' needs --out DIR (where the students, checkpoints and logs go)");
    let config: TrainConfig;
    let resume;
    let teacher: Pipeline;
    if (f.resume) {
      if (f.steps !== undefined) throw new UsageError('--resume continues the saved distillation (teacher, steps, phases); drop --steps');
      ({ resume, config } = resumeAdapterRun(out, f, 'distillation'));
      if (config.distill === undefined) throw new UsageError(`${out} does not hold a distillation; continue it with the command that made it`);
      teacher = loadPipeline(config.distill.teacher, { ema: config.distill.teacherEma ?? 'none', device, precision: config.run.precision });
    } else {
      if (f.checkpoint === undefined) throw new UsageError("'diffuse distill' needs --checkpoint TEACHER (a trained model, e.g. 'digits-cpu')");
      teacher = loadPipeline(f.checkpoint as string, { ema: emaOption(f.ema), device, precision: f.precision as Precision | undefined });
      config = distillConfig(teacher, f, f.checkpoint as string);
    }
    refuseClipModel(teacher, 'diffuse distill');
    const d = config.distill!;
    const phaseSteps = d.phases[0]!.toStep;
    console.log(`progressive distillation of ${d.teacher}: DDIM ${d.teacherSteps} → ${d.phases.map((p) => p.steps).join(' → ')} steps, ${phaseSteps} training steps a phase (learning rate ${d.lrDecay === 'linear' ? 'annealed to 0 in each' : 'constant'}), ${d.weighting} weighting`);
    const keeper = phaseKeeper(config, teacher, out);
    const teacherWeights = teacher.model.stateDict();
    let r;
    try {
      r = await runTraining({
        config,
        out,
        resume,
        device,
        label: 'distill',
        // The student starts as the teacher (Algorithm 2: "initialize student from teacher").
        prepareModel: (model) => torch.noGrad(() => model.loadStateDict(teacherWeights)),
        lossFn: (modelFn, x0, kwargs) =>
          progressiveDistillationLoss(teacher.spec, modelFn, teacherGrid(d.phases, keeper.phase(), d.teacherTimesteps), x0, kwargs, d.weighting),
        beforeStep: keeper.beforeStep,
        learningRate: (step) => learningRate(config.optim, step) * phaseLrFactor(d.phases, step, d.lrDecay ?? 'constant'),
      });
    } finally {
      torch.dispose(Object.fromEntries(teacherWeights));
    }
    const how = r.reason === 'signal' ? `stopped by ${r.signal}` : 'done';
    console.log(`${how}: step ${r.step}, ${(r.seconds / 60).toFixed(1)} min`);
    for (const p of d.phases) {
      if (p.toStep > r.step) break;
      const dir = path.join(out, 'checkpoints', stepDirName(p.toStep));
      if (existsSync(dir)) console.log(`${String(p.steps).padStart(4)}-step student: diffuse sample --checkpoint ${dir} --steps ${p.steps}`);
    }
    return r.signal !== null ? SIGNAL_EXIT[r.signal] : 0;
  },
};
