// `diffuse distill` through the real command: a tiny teacher distilled 8 → 4 → 2 steps, each
// phase's student an ordinary checkpoint that `diffuse sample` runs on its recorded grid; a
// resume (mid-phase, and at a phase boundary) equals the straight run bit for bit; user
// mistakes are one line and exit 2.
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import * as torch from '@diffuse/torch';

import type { TrainState } from '../src/train/checkpoint.js';
import { assertUserError, diffuse, readTrainLog, TINY_MODEL } from './cli-helpers.js';

const FP32 = ['--precision', 'fp32'];
const DISTILL = ['--steps', '2', '--teacher-steps', '8', '--phase-steps', '3', '--batch-size', '4', '--log-interval', '1', '--save-interval', '1', '--keep-checkpoints', '10', ...FP32];
let dir = '';
const at = (name: string): string => path.join(dir, name);

function ok(r: { code: number | null; stderr: string }): void {
  assert.equal(r.code, 0, r.stderr);
}

function state(out: string, step: number): TrainState {
  return JSON.parse(readFileSync(path.join(out, 'checkpoints', `step-${String(step).padStart(7, '0')}`, 'state.json'), 'utf8')) as TrainState;
}

/** Every tensor of a checkpoint's model and EMA files, equal bit for bit. */
function assertSameWeights(a: string, b: string): void {
  for (const file of ['model.safetensors', 'ema-0.999.safetensors']) {
    const x = torch.loadSafetensors(path.join(a, file)).tensors;
    const y = torch.loadSafetensors(path.join(b, file)).tensors;
    assert.deepEqual(Object.keys(x).sort(), Object.keys(y).sort());
    for (const k of Object.keys(x)) assert.equal(torch.tidy(() => x[k]!.sub(y[k]!).abs().max().item()), 0, `${file}: ${k} differs`);
    torch.dispose([x, y]);
  }
}

before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'diffuse-cli-distill-'));
  ok(diffuse('train', '--data', 'mnist', ...TINY_MODEL, '--steps', '2', '--batch-size', '4', '--log-interval', '0', ...FP32, '--out', at('teacher')));
  ok(diffuse('distill', '--checkpoint', at('teacher'), ...DISTILL, '--out', at('straight')));
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('distill 8 → 4 → 2: one student per phase with its grid; sample runs it in its steps', () => {
  const s3 = state(at('straight'), 3);
  const d = s3.config.distill!;
  assert.equal(d.method, 'progressive');
  assert.equal(d.teacherSteps, 8);
  // An ε-teacher's first grid stops at σ = 80: 'uniform' over 0..990 is round(i·990/7).
  assert.deepEqual(d.teacherTimesteps, [0, 141, 283, 424, 566, 707, 849, 990]);
  // Each halving keeps the top level and every second one below it.
  assert.deepEqual(d.phases.map((p) => [p.steps, p.timesteps, p.fromStep, p.toStep]), [[4, [141, 424, 707, 990], 0, 3], [2, [424, 990], 3, 6]]);
  assert.equal(state(at('straight'), 6).step, 6);
  // The learning rate anneals to 0 within each phase (3 steps: 1, 2/3, 1/3 of 2e-4) and restarts.
  assert.equal(d.lrDecay, 'linear');
  assert.deepEqual(readTrainLog(at('straight')).map((r) => +(r.lr / 2e-4).toFixed(6)), [1, 0.666667, 0.333333, 1, 0.666667, 0.333333]);
  assert.deepEqual(readTrainLog(at('straight')).map((r) => r.step), [1, 2, 3, 4, 5, 6]);
  assert.ok(existsSync(at('straight/distill/teacher-phase-1.safetensors')));

  const four = diffuse('sample', '--checkpoint', at('straight/checkpoints/step-0000003'), '--n', '2', '--out', at('s4'));
  ok(four);
  assert.match(four.stdout, /distilled student: DDIM, 4 steps on its grid t = 990, 707, 424, 141/);
  const two = diffuse('sample', '--checkpoint', at('straight'), '--n', '2', '--steps', '2', '--out', at('s2'));
  ok(two);
  assert.match(two.stdout, /DDIM, 2 steps on its grid t = 990, 424/);
  // Asked as an ordinary model (another grid), it samples like one.
  const plain = diffuse('sample', '--checkpoint', at('straight'), '--n', '2', '--steps', '3', '--spacing', 'trailing', '--out', at('s3'));
  ok(plain);
  assert.doesNotMatch(plain.stdout, /distilled student/);
  // --sampler auto: the student's own grid when it fits the budget, else the solver table.
  const auto = diffuse('sample', '--checkpoint', at('straight'), '--sampler', 'auto', '--nfe', '4', '--n', '2', '--out', at('sa'));
  ok(auto);
  assert.match(auto.stdout, /auto \(4 evaluations\): the distilled student's own grid\n.*DDIM, 2 steps/);
  const table = diffuse('sample', '--checkpoint', at('teacher'), '--sampler', 'auto', '--nfe', '12', '--n', '2', '--out', at('st'));
  ok(table);
  // The teacher predicts ε: the ε table (UniPC), not the v table (3M).
  assert.match(table.stdout, /auto \(12 evaluations\): unipc-bh1 10 steps, σ_max 80, no final denoise — FID 8\.78 at 10 evaluations, the best measured within 12 on a ref-28-style model \(ε-prediction/);
});

test('a student distils further on its own grid', () => {
  ok(diffuse('distill', '--checkpoint', at('straight/checkpoints/step-0000003'), '--steps', '2', '--phase-steps', '2', '--batch-size', '4', '--log-interval', '0', ...FP32, '--out', at('chained')));
  const d = state(at('chained'), 2).config.distill!;
  assert.equal(d.teacherSteps, 4);
  assert.deepEqual(d.teacherTimesteps, [141, 424, 707, 990]); // the 4-step student's, not 'uniform' 4
  assert.deepEqual(d.phases.map((p) => [p.steps, p.timesteps]), [[2, [424, 990]]]);
});

test('a resumed distillation equals the straight one bit for bit (mid-phase and at a phase boundary)', () => {
  for (const from of [4, 3]) {
    const out = at(`resumed-${from}`);
    cpSync(at('straight'), out, { recursive: true });
    for (let s = from + 1; s <= 6; s++) rmSync(path.join(out, 'checkpoints', `step-${String(s).padStart(7, '0')}`), { recursive: true });
    rmSync(path.join(out, 'checkpoints', 'latest'));
    if (from === 3) rmSync(path.join(out, 'distill'), { recursive: true }); // the boundary makes the next teacher again
    ok(diffuse('distill', '--out', out, '--resume'));
    assertSameWeights(at('straight/checkpoints/step-0000006'), path.join(out, 'checkpoints/step-0000006'));
    assert.deepEqual(readTrainLog(out).map((r) => r.loss), readTrainLog(at('straight')).map((r) => r.loss), `log after resuming from ${from}`);
  }
});

test("the user's mistakes are one line on stderr and exit 2", () => {
  const T = ['--checkpoint', at('teacher')];
  assertUserError(diffuse('distill', ...T, '--out', at('x1')), /needs --steps/);
  assertUserError(diffuse('distill', '--steps', '2', '--out', at('x2')), /needs --checkpoint/);
  assertUserError(diffuse('distill', ...T, '--steps', '3', '--teacher-steps', '8', '--out', at('x3')), /times a power of two/);
  assertUserError(diffuse('distill', ...T, '--steps', '2', '--weighting', 'snr', '--out', at('x4')), /--weighting/);
  assertUserError(diffuse('distill', '--checkpoint', at('nothing'), '--steps', '2', '--out', at('x5')), /nothing: no such checkpoint/);
  assertUserError(diffuse('distill', '--out', at('straight'), '--resume', '--steps', '4'), /drop --steps/);
  assertUserError(diffuse('distill', ...T, ...DISTILL, '--out', at('straight')), /already holds a training run/);
  assertUserError(diffuse('sample', '--checkpoint', at('straight'), '--n', '2', '--steps', '3', '--out', at('x6')), /distilled for 2 DDIM steps/);
  assertUserError(diffuse('sample', '--checkpoint', at('straight'), '--sampler', 'auto', '--n', '2', '--out', at('x7')), /needs --nfe/);
  assertUserError(diffuse('sample', '--checkpoint', at('straight'), '--sampler', 'auto', '--nfe', '4', '--steps', '2', '--out', at('x8')), /drop --steps/);
  assertUserError(diffuse('sample', '--checkpoint', at('straight'), '--nfe', '4', '--out', at('x9')), /--nfe is the budget of --sampler auto/);
  for (const x of ['x1', 'x2', 'x3', 'x4', 'x5', 'x6', 'x7', 'x8', 'x9']) assert.equal(existsSync(at(x)), false, `${x} written`);
});
