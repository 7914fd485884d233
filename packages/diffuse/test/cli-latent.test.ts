// Latent diffusion through the real command, end to end: an autoencoder is trained, a UNet is
// trained on its scaled latents (cached, and encoded on the fly), resumed bit-exactly, evaluated
// (FID of decoded samples), sampled, animated, noised and scored (latent bits/dim) — images come
// out decoded — and the wrong autoencoder, or wrong image shape, is refused in one line.
import assert from 'node:assert/strict';
import { copyFileSync, cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { loadMnistDigits } from '../src/data/mnist.js';
import { readNpzSync, writeNpz } from '../src/io/npz.js';
import { assertUserError, checkpointFile, diffuse, readTrainLog, TINY_MODEL } from './cli-helpers.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'diffuse-ldm-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const at = (p: string): string => path.join(tmp, p);

/** 28×28 digits → 2×14×14 latents (f = 2): the digits FID works on the decoded samples. */
const AE = ['--image-size', '28', '--base-channels', '4', '--channel-mult', '1,2', '--z-channels', '2', '--batch-size', '8', '--warmup-steps', '0'];
/** The tiny UNet on 14×14 latents. */
const UNET = TINY_MODEL.filter((_, i, a) => a[i] !== '--image-size' && a[i - 1] !== '--image-size');
const RUN = ['--batch-size', '8', '--log-interval', '1', '--save-interval', '0'];

before(async () => {
  const { images } = loadMnistDigits();
  await writeNpz(at('digits.npz'), { arr_0: { dtype: 'uint8', shape: [64, 28, 28, 1], data: images.slice(0, 64 * 784) } });
  for (const [name, seed] of [['ae', '0'], ['ae2', '1']]) {
    const r = diffuse('autoencoder', 'train', '--out', at(name), ...AE, '--data', at('digits.npz'), '--steps', '2', '--seed', seed);
    assert.equal(r.code, 0, r.stderr);
  }
});

test('AE → latent train (cached latents) → resume bit-exact → eval → sample, animate, noise, nll decoded', () => {
  const whole = at('ldm');
  const data = ['--data', at('digits.npz')];
  const a = diffuse('train', '--out', whole, '--autoencoder', at('ae'), ...data, ...UNET, ...RUN, '--steps', '4', '--eval-interval', '4', '--eval-samples', '10');
  assert.equal(a.code, 0, a.stderr);
  assert.match(a.stdout, /encoding 64 images to latents/);
  assert.match(a.stdout, /training 14×14×2/);
  assert.match(a.stdout, /eval step 4: FID \d/);
  assert.equal(readdirSync(whole).filter((f) => /^latents-[0-9a-f]{16}\.npz$/.test(f)).length, 1);
  const cfg = JSON.parse(checkpointFile(whole, 4, 'state.json').toString()) as { config: { autoencoder: { hash: string; path: string; scaleFactor: number } } };
  assert.match(cfg.config.autoencoder.hash, /^[0-9a-f]{16}$/);
  assert.ok(path.isAbsolute(cfg.config.autoencoder.path));

  const split = at('ldm-split');
  assert.equal(diffuse('train', '--out', split, '--autoencoder', at('ae'), ...data, ...UNET, ...RUN, '--steps', '2').code, 0);
  const r = diffuse('train', '--out', split, '--resume', '--steps', '4');
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /encoding/, 'the cached latents are reused');
  assert.ok(checkpointFile(whole, 4, 'model.safetensors').equals(checkpointFile(split, 4, 'model.safetensors')), 'resume is bit-exact');

  const s = diffuse('sample', '--checkpoint', whole, '--n', '4', '--steps', '5', '--out', at('samples'));
  assert.equal(s.code, 0, s.stderr);
  assert.deepEqual(readNpzSync(path.join(at('samples'), 'samples.npz')).get('arr_0')!.shape, [4, 28, 28, 1]);
  assert.equal(diffuse('animate', '--checkpoint', whole, '--n', '4', '--steps', '5', '--out', at('a.gif')).code, 0);
  assert.equal(diffuse('noise', '--checkpoint', whole, '--data', at('digits.npz'), '--n', '2', '--out', at('noise.png')).code, 0);
  const n = diffuse('nll', '--checkpoint', whole, '--data', at('digits.npz'), '--n', '4', '--batch-size', '4');
  assert.equal(n.code, 0, n.stderr);
  assert.match(n.stdout, /latent bits\/dim/);
  for (const f of ['a.gif', 'noise.png']) assert.ok(existsSync(at(f)), f);

  // --encode-on-the-fly: the same latents (the posterior mean) batch by batch, no cache; batches of
  // 8 instead of 256 may round differently in the last bits, so the losses agree to 1e-4.
  const fly = at('ldm-fly');
  const f = diffuse('train', '--out', fly, '--autoencoder', at('ae'), '--encode-on-the-fly', ...data, ...UNET, ...RUN, '--steps', '4');
  assert.equal(f.code, 0, f.stderr);
  assert.equal(readdirSync(fly).filter((x) => x.startsWith('latents-')).length, 0);
  const cached = readTrainLog(whole);
  readTrainLog(fly).forEach((row, i) => assert.ok(Math.abs(row.loss! - cached[i]!.loss!) <= 1e-4 * Math.abs(cached[i]!.loss!), `step ${row.step}: ${row.loss} vs ${cached[i]!.loss}`));
});

test('a latent model moved with its autoencoder beside it finds it there; without it, one line', () => {
  const ck = path.join(at('ldm'), 'checkpoints', 'step-0000004');
  const moved = at('moved');
  cpSync(ck, moved, { recursive: true });
  const state = JSON.parse(readFileSync(path.join(moved, 'state.json'), 'utf8')) as { config: { autoencoder: { path: string } } };
  const recorded = state.config.autoencoder.path;
  state.config.autoencoder.path = at('gone'); // as on another machine
  writeFileSync(path.join(moved, 'state.json'), JSON.stringify(state));
  assertUserError(diffuse('sample', '--checkpoint', moved, '--n', '2', '--steps', '2', '--out', at('m0')), /the autoencoder this latent model was trained with is gone/);
  cpSync(recorded, path.join(moved, 'autoencoder'), { recursive: true });
  const s = diffuse('sample', '--checkpoint', moved, '--n', '2', '--steps', '2', '--seed', '3', '--out', at('m1'));
  assert.equal(s.code, 0, s.stderr);
  const t = diffuse('sample', '--checkpoint', at('ldm'), '--n', '2', '--steps', '2', '--seed', '3', '--out', at('m2'));
  assert.equal(t.code, 0, t.stderr);
  assert.ok(readFileSync(path.join(at('m1'), 'samples.npz')).equals(readFileSync(path.join(at('m2'), 'samples.npz'))), 'the same samples as from the original place');
  assert.ok(!existsSync(at('m0')), 'no output from the refused run');
});

test('wrong autoencoder or image shape: one line, exit 2', () => {
  const data = ['--data', at('digits.npz')];
  assertUserError(diffuse('train', '--out', at('ldm'), '--resume', '--steps', '6', '--autoencoder', at('ae2')), /trained on the latents of another autoencoder/);
  assertUserError(diffuse('train', '--out', at('x1'), '--autoencoder', at('ae'), '--channels', '3', ...data, ...UNET), /--channels 3: the autoencoder .* takes 28×28×1 images/);
  assertUserError(diffuse('train', '--out', at('x2'), '--autoencoder', at('ldm'), ...data, ...UNET), /not an autoencoder checkpoint/);
  assertUserError(diffuse('train', '--out', at('x3'), '--preset', 'digits-ldm', ...data), /trains on latents; give --autoencoder/);
  // The recorded autoencoder's weights replaced by another's: sampling refuses.
  const cfg = JSON.parse(checkpointFile(at('ldm'), 4, 'state.json').toString()) as { config: { autoencoder: { path: string } } };
  copyFileSync(path.join(at('ae2'), 'checkpoints', 'step-0000002', 'model.safetensors'), path.join(cfg.config.autoencoder.path, 'model.safetensors'));
  assertUserError(diffuse('sample', '--checkpoint', at('ldm'), '--n', '2', '--steps', '2', '--out', at('x4')), /not the autoencoder this latent model was trained with/);
  for (const d of ['x1', 'x2', 'x3', 'x4']) assert.ok(!existsSync(at(d)), `${d} left behind`);
});
