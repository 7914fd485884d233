// Bad input through the real `diffuse` command: one line on stderr naming the problem, exit
// code 2, no stack trace, and nothing half-written.
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { assertUserError, diffuse } from './cli-helpers.js';

const work = mkdtempSync(path.join(tmpdir(), 'diffuse-cli-errors-'));

test('unknown commands, flags and bad values', () => {
  assertUserError(diffuse('trian'), /unknown command 'trian'/);
  assertUserError(diffuse('train', '--data', 'mnist', '--out', path.join(work, 'x'), '--stepz', '3'), /unknown flag --stepz/);
  assertUserError(diffuse('train', '--data', 'mnist', '--out', path.join(work, 'x'), '--lr', 'abc'), /--lr: expected a number/);
  assertUserError(diffuse('train', '--data', 'mnist', '--out', path.join(work, 'x'), '--image-size', '30'), /not divisible by 4/);
  assertUserError(diffuse('sample', '--checkpoint', 'digits-cpu', '--out', path.join(work, 's'), '--sampler', 'plms'), /must be one of ddpm, ddim/);
  assertUserError(diffuse('train', '--data', 'mnist'), /needs --out/);
  assert.ok(!existsSync(path.join(work, 'x')), 'nothing written for a rejected command');
});

test('missing, empty and non-image data', () => {
  assertUserError(diffuse('train', '--data', path.join(work, 'nope'), '--out', path.join(work, 'o1'), '--steps', '1'), /nope: no such file or folder/);
  const empty = path.join(work, 'empty');
  mkdirSync(empty);
  assertUserError(diffuse('train', '--data', empty, '--out', path.join(work, 'o2'), '--steps', '1'), /empty/);
  const junk = path.join(work, 'junk');
  mkdirSync(junk);
  writeFileSync(path.join(junk, 'a.png'), 'this is not a png');
  assertUserError(diffuse('train', '--data', junk, '--out', path.join(work, 'o3'), '--steps', '1', '--image-size', '8', '--channel-mult', '1,2', '--batch-size', '1'), /a\.png/);
  const npz = path.join(work, 'bad.npz');
  writeFileSync(npz, 'PK not really');
  assertUserError(diffuse('train', '--data', npz, '--out', path.join(work, 'o4'), '--steps', '1'), /bad\.npz/);
  assertUserError(diffuse('noise', '--data', 'mnist', '--out', path.join(work, 'f.jpg')), /ending in \.png/);
  for (const o of ['o1', 'o2', 'o3', 'o4']) assert.ok(!existsSync(path.join(work, o)), `${o}: nothing written for bad data`);
});

test('missing, corrupt and mismatched checkpoints', () => {
  assertUserError(diffuse('sample', '--checkpoint', path.join(work, 'none'), '--out', path.join(work, 's1')), /no such checkpoint/);
  assertUserError(diffuse('info', work), /no checkpoint found/);
  // A real checkpoint, then damaged copies of it.
  const run = path.join(work, 'run');
  const ok = diffuse('train', '--data', 'mnist', '--out', run, '--steps', '1', '--image-size', '8', '--channel-mult', '1,2', '--model-channels', '8', '--num-res-blocks', '1', '--attention-ds', '', '--batch-size', '2');
  assert.equal(ok.code, 0, ok.stderr);
  const ck = path.join(run, 'checkpoints', readdirSync(path.join(run, 'checkpoints')).find((n) => n.startsWith('step-'))!);
  const truncated = path.join(work, 'truncated');
  cpSync(ck, truncated, { recursive: true });
  writeFileSync(path.join(truncated, 'model.safetensors'), 'xx');
  assertUserError(diffuse('sample', '--checkpoint', truncated, '--out', path.join(work, 's2'), '--n', '1'), /model\.safetensors/);
  const other = path.join(work, 'other');
  cpSync(ck, other, { recursive: true });
  const state = JSON.parse(readFileSync(path.join(other, 'state.json'), 'utf8'));
  state.config.model.modelChannels = 32;
  writeFileSync(path.join(other, 'state.json'), JSON.stringify(state));
  assertUserError(diffuse('sample', '--checkpoint', other, '--out', path.join(work, 's3'), '--n', '1'), /do not fit the model/);
  assertUserError(diffuse('sample', '--checkpoint', ck, '--out', path.join(work, 's4'), '--ema', '0.5'), /no EMA at rate 0\.5/);
  assertUserError(diffuse('animate', '--checkpoint', ck, '--out', path.join(work, 'a.gif'), '--class', '1'), /--class: this model is not class-conditional/);
  assert.ok(!existsSync(path.join(work, 'a.gif')), 'no gif written');
  assertUserError(diffuse('train', '--data', 'mnist', '--out', run, '--steps', '1'), /already holds a training run/);
  const mismatched = path.join(work, 'mismatched-run');
  cpSync(run, mismatched, { recursive: true });
  cpSync(path.join(other, 'state.json'), path.join(mismatched, 'checkpoints', path.basename(ck), 'state.json'));
  assertUserError(diffuse('train', '--out', mismatched, '--resume', '--steps', '3'), /cannot resume from this checkpoint/);
  for (const s of ['s1', 's2', 's3', 's4']) assert.ok(!existsSync(path.join(work, s)), `${s} not written`);
  assert.deepEqual(readdirSync(work).filter((n) => n.includes('.tmp')), [], 'no temporary leftovers');
});

test('a non-finite loss stops with the step named and saves nothing; --on-nan skip counts skips', () => {
  const tiny = ['--data', 'mnist', '--lr', '1e30', '--grad-clip', '0', '--warmup-steps', '0', '--model-channels', '8', '--num-res-blocks', '1', '--attention-ds', '', '--channel-mult', '1,2', '--batch-size', '4'];
  const out = path.join(work, 'nan');
  assertUserError(diffuse('train', ...tiny, '--out', out, '--steps', '6'), /the loss became (NaN|infinite) at step \d+; nothing was saved/);
  assert.ok(!existsSync(path.join(out, 'checkpoints')), 'no poisoned checkpoint');
  const skip = diffuse('train', ...tiny, '--out', path.join(work, 'nan-skip'), '--steps', '40', '--on-nan', 'skip');
  assert.equal(skip.code, 2);
  const lines = skip.stderr.trim().split('\n');
  assert.match(lines[lines.length - 1]!, /^diffuse: the loss was not finite for 20 steps in a row/);
  assert.ok(lines.filter((l) => /non-finite loss at step \d+; skipped \(\d+ so far\)/.test(l)).length >= 20, skip.stderr);
});

test.after(() => rmSync(work, { recursive: true, force: true }));
