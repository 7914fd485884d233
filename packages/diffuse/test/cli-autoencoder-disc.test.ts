// `diffuse autoencoder train --disc-weight` through the real command: a KL and a VQ autoencoder
// trained with VQGAN's patch discriminator switched on after step 1 resume bit-exactly across the
// switch (the discriminator and its optimizer live in the checkpoint), log the adversarial terms
// only after the start, and wrong discriminator flags answer one line with exit 2; reconstruct
// writes its reconstructions as an .npz for diffuse fid.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';

import { readNpzSync } from '../src/io/npz.js';
import { assertUserError, checkpointFile, diffuse, TINY_AE } from './cli-helpers.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'diffuse-disc-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

// 8×8 images leave a 2×2 logit map with one strided layer.
const DISC = ['--disc-weight', '0.8', '--disc-start', '1', '--disc-layers', '1', '--disc-channels', '4', '--save-interval', '0'];
const VQ = ['--kind', 'vq', '--codebook-size', '8', '--ema-decay', '0.9'];

for (const [kind, extra] of [['kl', []], ['vq', VQ]] as const) {
  test(`${kind} with a discriminator from step 1: 4 steps = 2, then resume to 4, bit-exact`, () => {
    const whole = path.join(tmp, `${kind}-whole`);
    const split = path.join(tmp, `${kind}-split`);
    const a = diffuse('autoencoder', 'train', '--out', whole, ...TINY_AE, ...extra, ...DISC, '--steps', '4');
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stdout, /with a 1-layer patch discriminator \(hinge loss, weight 0\.8 × adaptive weight\) from step 1/);
    assert.match(a.stdout, /step 2 loss \S+ .* d_loss \S+ g_loss \S+ λ \S+/);
    const rows = readFileSync(path.join(whole, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);
    assert.deepEqual(rows.map((r) => r.d_loss !== undefined), [false, true, true, true], 'd_loss logged from the start step on');
    for (const r of rows.slice(1)) assert.ok(r.d_weight! >= 0 && Number.isFinite(r.g_loss!) && r.d_loss! >= 0, JSON.stringify(r));
    const b = diffuse('autoencoder', 'train', '--out', split, ...TINY_AE, ...extra, ...DISC, '--steps', '2');
    assert.equal(b.code, 0, b.stderr);
    const c = diffuse('autoencoder', 'train', '--out', split, '--resume', '--steps', '4');
    assert.equal(c.code, 0, c.stderr);
    for (const f of ['model.safetensors', 'train-state.safetensors']) assert.ok(checkpointFile(whole, 4, f).equals(checkpointFile(split, 4, f)), `${f} differs`);
    assert.ok(checkpointFile(whole, 4, 'train-state.safetensors').includes('disc.optim.state.0.exp_avg'), 'the discriminator optimizer is saved');
    const i = diffuse('autoencoder', 'info', '--checkpoint', whole);
    assert.equal(i.code, 0, i.stderr);
    assert.match(i.stdout, /trained with a 1-layer patch discriminator \(width 4, hinge loss, weight 0\.8 × adaptive weight from step 1\)/);
    if (kind === 'vq') {
      // Reconstructions as images for 'diffuse fid' (the measured effect in docs/autoencoders.md).
      const npz = path.join(tmp, 'rec.npz');
      const r = diffuse('autoencoder', 'reconstruct', '--checkpoint', whole, '--n', '20', '--npz', npz);
      assert.equal(r.code, 0, r.stderr);
      const arr = readNpzSync(npz).get('arr_0')!;
      assert.deepEqual([arr.dtype, arr.shape], ['uint8', [20, 8, 8, 1]]);
    }
  });
}

test('wrong discriminator flags: one line, exit 2', () => {
  const bad = path.join(tmp, 'bad');
  assertUserError(diffuse('autoencoder', 'train', '--out', bad, ...TINY_AE, '--disc-weight', '-1'), /--disc-weight: must be at least 0, got -1/);
  assertUserError(diffuse('autoencoder', 'train', '--out', bad, ...TINY_AE, '--disc-weight', '1', '--disc-layers', '2'), /a 2-layer patch discriminator leaves no logits for 8×8 images; use --disc-layers 1 or fewer/);
  assertUserError(diffuse('autoencoder', 'train', '--out', bad, ...TINY_AE, '--disc-weight', '1', '--disc-loss', 'wgan'), /--disc-loss/);
  assertUserError(diffuse('autoencoder', 'train', '--out', path.join(tmp, 'kl-whole'), '--resume', '--disc-weight', '0'), /drop --disc-weight/);
  assertUserError(diffuse('autoencoder', 'reconstruct', '--checkpoint', path.join(tmp, 'kl-whole'), '--npz', path.join(tmp, 'rec.png')), /--npz .*rec\.png: the file name must end in \.npz/);
});
