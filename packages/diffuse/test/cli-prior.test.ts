// `diffuse prior` through the real command: a PixelCNN prior over a tiny VQ autoencoder's codes,
// trained (unconditional and class-conditional), resumed bit-exactly, sampled and decoded; a KL
// autoencoder is refused in one line.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { readNpzSync } from '../src/io/npz.js';
import { assertUserError, checkpointFile, diffuse, TINY_AE } from './cli-helpers.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'diffuse-prior-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const at = (p: string): string => path.join(tmp, p);
const PRIOR = ['--channels', '8', '--layers', '2', '--batch-size', '8', '--limit', '64', '--log-interval', '1', '--save-interval', '0'];

before(() => {
  for (const [name, kind] of [['vq', 'vq'], ['kl', 'kl']]) {
    const r = diffuse('autoencoder', 'train', '--out', at(name), ...TINY_AE, '--kind', kind, '--codebook-size', '8', '--steps', '2');
    assert.equal(r.code, 0, r.stderr);
  }
});

test('prior train → resume bit-exact → sample decoded images', () => {
  const whole = at('p');
  const a = diffuse('prior', 'train', '--autoencoder', at('vq'), '--out', whole, ...PRIOR, '--steps', '4');
  assert.equal(a.code, 0, a.stderr);
  assert.match(a.stdout, /over 64 maps of 4×4 codes \(K = 8\)/);
  assert.match(a.stdout, /bits\/code/);
  assert.equal(diffuse('prior', 'train', '--autoencoder', at('vq'), '--out', at('p2'), ...PRIOR, '--steps', '2').code, 0);
  const r = diffuse('prior', 'train', '--out', at('p2'), '--resume', '--steps', '4');
  assert.equal(r.code, 0, r.stderr);
  assert.ok(checkpointFile(whole, 4).equals(checkpointFile(at('p2'), 4)), 'resume is bit-exact');
  const s = diffuse('prior', 'sample', '--checkpoint', whole, '--n', '5', '--out', at('s'));
  assert.equal(s.code, 0, s.stderr);
  assert.deepEqual(readNpzSync(path.join(at('s'), 'samples.npz')).get('arr_0')!.shape, [5, 8, 8, 1]);
});

test('class-conditional prior samples the classes asked for', () => {
  const out = at('pc');
  assert.equal(diffuse('prior', 'train', '--autoencoder', at('vq'), '--out', out, '--class-cond', ...PRIOR, '--steps', '2').code, 0);
  const s = diffuse('prior', 'sample', '--checkpoint', out, '--n', '4', '--class', '3,7', '--out', at('sc'));
  assert.equal(s.code, 0, s.stderr);
  assert.deepEqual(Array.from(readNpzSync(path.join(at('sc'), 'samples.npz')).get('arr_1')!.data as BigInt64Array, Number), [3, 7, 3, 7]);
});

test('wrong inputs: one line, exit 2', () => {
  assertUserError(diffuse('prior', 'train', '--autoencoder', at('kl'), '--out', at('x')), /a KL \(VAE\) autoencoder; 'diffuse prior train' needs a VQ \(VQ-VAE\) one/);
  assertUserError(diffuse('prior', 'sample', '--checkpoint', at('vq'), '--out', at('x')), /not a prior checkpoint/);
  assertUserError(diffuse('prior', 'sample', '--checkpoint', at('p'), '--class', '1', '--out', at('x')), /this prior is unconditional/);
});
