// `diffuse train --model dit` end to end: the checkpoint records the backbone, the commands that
// load checkpoints build the DiT from it, a resumed DiT run equals a straight one bit for bit, and
// the DiT's shape mistakes are one line with exit 2.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';

import { assertResumeBitExact, assertUserError, diffuse } from './cli-helpers.js';

const dir = mkdtempSync(path.join(tmpdir(), 'diffuse-dit-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const at = (p: string): string => path.join(dir, p);

/** A DiT small enough for a step in a fraction of a second: 8×8 digits, p = 2 (16 tokens), 2 blocks of width 32. */
const TINY_DIT = ['--data', 'mnist', '--model', 'dit', '--image-size', '8', '--patch-size', '2', '--hidden-size', '32', '--depth', '2', '--num-heads', '2', '--batch-size', '4', '--log-interval', '1', '--seed', '3'];

test('train --model dit: the checkpoint records the DiT; info and sample (with guidance) load it', () => {
  const out = at('run');
  const r = diffuse('train', ...TINY_DIT, '--class-cond', '--num-classes', '10', '--class-dropout', '0.2', '--steps', '3', '--out', out);
  assert.equal(r.code, 0, r.stderr);
  const state = JSON.parse(readFileSync(path.join(out, 'checkpoints', 'step-0000003', 'state.json'), 'utf8')) as { config: { model: Record<string, unknown> } };
  assert.equal(state.config.model['backbone'], 'dit');
  assert.equal(state.config.model['patchSize'], 2);
  assert.equal(state.config.model['mlpRatio'], 4); // a default made concrete in the checkpoint
  const info = diffuse('info', out);
  assert.equal(info.code, 0, info.stderr);
  assert.match(info.stdout, /model +DiT p=2, width 32, 2 blocks, 2 heads/);
  const s = diffuse('sample', '--checkpoint', out, '--n', '4', '--steps', '3', '--guidance', '2', '--out', at('samples'));
  assert.equal(s.code, 0, s.stderr);
  assert.ok(existsSync(at('samples/samples.npz')));
  // Any size the patches divide, aspect ratio included: positions come from the patch coordinates.
  const wide = diffuse('sample', '--checkpoint', out, '--n', '2', '--steps', '2', '--height', '6', '--width', '14', '--out', at('wide'));
  assert.equal(wide.code, 0, wide.stderr);
  assert.match(wide.stdout, /arr_0 uint8 2×6×14×1/);
  assertUserError(diffuse('sample', '--checkpoint', out, '--n', '2', '--height', '7', '--out', at('odd')), /7×8 is not divisible by 2, which this DiT's patch size 2 needs/);
  assert.ok(!existsSync(at('odd')), 'no output for a refused size');
});

test('a UNet samples at sizes its levels divide and refuses others in one line', () => {
  assertUserError(diffuse('sample', '--checkpoint', 'digits-cpu', '--n', '1', '--height', '30', '--out', at('u')), /30×28 is not divisible by 4, which this UNet's 3 levels/);
});

test('a DiT run stopped after 2 steps and resumed to 4 equals 4 straight steps bit for bit', () => {
  assertResumeBitExact(TINY_DIT, at('straight'), at('split'));
});

test('DiT shape mistakes: an image size the patches do not divide, a bad patch size, a width the heads do not divide', () => {
  assertUserError(diffuse('train', ...TINY_DIT, '--image-size', '10', '--patch-size', '4', '--steps', '1', '--out', at('bad')), /image size 10 is not divisible by the patch size 4/);
  assertUserError(diffuse('train', ...TINY_DIT, '--patch-size', '3', '--steps', '1', '--out', at('bad')), /patch size must be 1, 2 or 4, got 3/);
  assertUserError(diffuse('train', ...TINY_DIT, '--hidden-size', '30', '--steps', '1', '--out', at('bad')), /hidden size 30 is not divisible by 2 heads|divisible by 4/);
});
