// `diffuse autoencoder` through the real command: training a tiny KL and VQ autoencoder, a
// resume that is bit-exact with an uninterrupted run, info/reconstruct/encode outputs, and the
// one-line exit-2 answers to wrong inputs.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';

import { readNpzSync } from '../src/io/npz.js';
import { assertUserError, BIN, checkpointFile, diffuse, TINY_AE, TINY_MODEL } from './cli-helpers.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'diffuse-ae-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

// Unused codes fall below the revival threshold after one step, so resumes replay revivals too.
const VQ = ['--kind', 'vq', '--codebook-size', '8', '--ema-decay', '0.9', '--revive-threshold', '0.995'];

for (const [kind, extra] of [['kl', []], ['vq', VQ]] as const) {
  test(`${kind}: train 4 steps = train 2, resume to 4 (weights, optimizer, scale factor bit-exact)`, () => {
    const whole = path.join(tmp, `${kind}-whole`);
    const split = path.join(tmp, `${kind}-split`);
    const a = diffuse('autoencoder', 'train', '--out', whole, ...TINY_AE, ...extra, '--steps', '4', '--save-interval', '0', '--preview-interval', '4');
    assert.equal(a.code, 0, a.stderr);
    for (const f of ['log.jsonl', 'loss.png', 'report.html', 'previews/step-0000004.png']) assert.ok(existsSync(path.join(whole, f)), f);
    const b = diffuse('autoencoder', 'train', '--out', split, ...TINY_AE, ...extra, '--steps', '2', '--save-interval', '0');
    assert.equal(b.code, 0, b.stderr);
    const c = diffuse('autoencoder', 'train', '--out', split, '--resume', '--steps', '4');
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stdout, /resuming .* at step 2/);
    for (const f of ['model.safetensors', 'train-state.safetensors']) assert.ok(checkpointFile(whole, 4, f).equals(checkpointFile(split, 4, f)), `${f} differs`);
    const scale = (out: string): number => (JSON.parse(checkpointFile(out, 4, 'state.json').toString()) as { config: { autoencoder: { scaleFactor: number } } }).config.autoencoder.scaleFactor;
    assert.equal(scale(whole), scale(split));
    assert.ok(scale(whole) > 0 && Number.isFinite(scale(whole)));
    if (kind === 'vq') assert.match(a.stdout, /perplexity \d/);
  });
}

test('info, reconstruct and encode', () => {
  const kl = path.join(tmp, 'kl-whole');
  const vq = path.join(tmp, 'vq-whole');
  const i = diffuse('autoencoder', 'info', '--checkpoint', kl);
  assert.equal(i.code, 0, i.stderr);
  assert.match(i.stdout, /KL \(VAE\) autoencoder, step 4/);
  assert.match(i.stdout, /latents 2×4×4 \(f = 2\)/);
  const grid = path.join(tmp, 'rec.png');
  const r = diffuse('autoencoder', 'reconstruct', '--checkpoint', vq, '--data', 'mnist:test', '--n', '20', '--out', grid);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /20 images of mnist:test: MSE \S+ \(pixels on \[0, 1\]\), PSNR \S+ dB, \d+\/8 codes used/);
  assert.ok(existsSync(grid));
  const z = path.join(tmp, 'z.npz');
  const e = diffuse('autoencoder', 'encode', '--checkpoint', kl, '--n', '10', '--out', z);
  assert.equal(e.code, 0, e.stderr);
  const arrays = readNpzSync(z);
  assert.deepEqual(arrays.get('arr_0')!.shape, [10, 2, 4, 4]);
  assert.deepEqual(arrays.get('arr_1')!.shape, [10]);
  const ix = path.join(tmp, 'ix.npz');
  assert.equal(diffuse('autoencoder', 'encode', '--checkpoint', vq, '--n', '10', '--indices', '--out', ix).code, 0);
  const idx = readNpzSync(ix).get('arr_0')!;
  assert.deepEqual(idx.shape, [10, 4, 4]);
  assert.ok(Array.from(idx.data as BigInt64Array).every((k) => k >= 0n && k < 8n));
});

test('wrong inputs: one line, exit 2', () => {
  const kl = path.join(tmp, 'kl-whole');
  const vq = path.join(tmp, 'vq-whole');
  assertUserError(diffuse('autoencoder', 'encode', '--checkpoint', kl, '--indices', '--out', path.join(tmp, 'x.npz')), /a KL \(VAE\) autoencoder; --indices needs a VQ \(VQ-VAE\) one/);
  assertUserError(diffuse('autoencoder', 'encode', '--checkpoint', vq, '--sample', '--out', path.join(tmp, 'x.npz')), /a VQ \(VQ-VAE\) autoencoder; --sample .* needs a KL \(VAE\) one/);
  assertUserError(diffuse('autoencoder', 'train', '--out', path.join(tmp, 'bad'), ...TINY_AE, '--channel-mult', '1,1,1,2', '--image-size', '12'), /image size 12 is not divisible by the downsampling factor 8/);
  assertUserError(diffuse('autoencoder', 'train', '--out', kl, ...TINY_AE), /already holds a training run/);
  assertUserError(diffuse('autoencoder', 'frobnicate'), /unknown action 'frobnicate'/);
  // A diffusion model's checkpoint is not an autoencoder.
  const unet = path.join(tmp, 'unet');
  assert.equal(diffuse('train', '--out', unet, '--data', 'mnist', ...TINY_MODEL, '--steps', '1', '--batch-size', '4').code, 0);
  assertUserError(diffuse('autoencoder', 'info', '--checkpoint', unet), /not an autoencoder checkpoint/);
  // ... nor is an autoencoder a diffusion model.
  assertUserError(diffuse('sample', '--checkpoint', kl, '--n', '1', '--out', path.join(tmp, 'x')), /an autoencoder, not a diffusion model/);
  assertUserError(diffuse('info', kl), /an autoencoder, not a diffusion model/);
  assertUserError(diffuse('train', '--out', vq, '--resume'), /an autoencoder, not a diffusion model/);
  for (const f of ['x.npz', 'bad', 'x']) assert.ok(!existsSync(path.join(tmp, f)), `${f} left behind`);
});

test('SIGINT mid-training saves a checkpoint, exits 130, and --resume continues from it', async () => {
  const out = path.join(tmp, 'sigint');
  const child = spawn(process.execPath, [BIN, 'autoencoder', 'train', '--out', out, ...TINY_AE, '--steps', '100000', '--save-interval', '0'], { env: { ...process.env, DIFFUSE_THREADS: '1' } });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if ((stdout.match(/^step \d+/gm) ?? []).length >= 3) resolve(); // a few steps in, mid-training
    });
    child.on('exit', () => reject(new Error(`exited before training: ${stderr}`)));
  });
  child.kill('SIGINT');
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  assert.equal(code, 130, stderr);
  assert.match(stderr, /SIGINT received/);
  const latest = readFileSync(path.join(out, 'checkpoints', 'latest'), 'utf8').trim();
  const step = (JSON.parse(readFileSync(path.join(out, 'checkpoints', latest, 'state.json'), 'utf8')) as { step: number }).step;
  assert.ok(step >= 3, `saved at step ${step}`);
  const r = diffuse('autoencoder', 'train', '--out', out, '--resume', '--steps', String(step + 1));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`resuming .* at step ${step}`));
});
