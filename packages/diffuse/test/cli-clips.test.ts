// Clips end to end through the real command: `train --data moving-digits --model dit` makes a
// clip DiT whose checkpoint says so, a resumed run equals a straight one bit for bit, `sample`
// writes a looping GIF per clip and an (N, T, H, W, C) npz with any sampler and guidance, and
// clips meeting image models (or images meeting clip models) are one line with exit 2.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';

import { readNpzSync } from '../src/io/npz.js';
import { assertResumeBitExact, assertUserError, diffuse } from './cli-helpers.js';

const dir = mkdtempSync(path.join(tmpdir(), 'diffuse-clips-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const at = (p: string): string => path.join(dir, p);

/** A clip DiT that steps in a fraction of a second: 4 frames of 20×20, pt = 2, p = 4 (2·5·5 = 50 tokens), one block of width 32. */
const TINY_CLIP = [
  '--data', 'moving-digits', '--model', 'dit', '--frames', '4', '--temporal-patch', '2', '--image-size', '20', '--patch-size', '4',
  '--hidden-size', '32', '--depth', '1', '--num-heads', '2', '--batch-size', '4', '--log-interval', '1', '--seed', '2',
  '--class-cond', '--num-classes', '10', '--class-dropout', '0.2',
];

/**
 * Walks a GIF's blocks (GIF89a spec): the logical screen size, the number of images, and whether
 * the NETSCAPE2.0 extension makes it loop.
 */
function readGif(bytes: Buffer): { width: number; height: number; frames: number; loops: boolean } {
  assert.equal(bytes.subarray(0, 6).toString('latin1'), 'GIF89a');
  const width = bytes.readUInt16LE(6);
  const height = bytes.readUInt16LE(8);
  let p = 13;
  if (bytes[10]! & 0x80) p += 3 * 2 ** ((bytes[10]! & 7) + 1); // global colour table
  const skipSubBlocks = (): void => {
    while (bytes[p] !== 0) p += bytes[p]! + 1;
    p++;
  };
  let frames = 0;
  let loops = false;
  for (;;) {
    const b = bytes[p++];
    if (b === 0x3b) break; // trailer
    if (b === 0x21) {
      const label = bytes[p++];
      if (label === 0xff && bytes.subarray(p + 1, p + 12).toString('latin1') === 'NETSCAPE2.0') loops = true;
      skipSubBlocks();
    } else if (b === 0x2c) {
      frames++;
      const packed = bytes[p + 8]!;
      p += 9;
      if (packed & 0x80) p += 3 * 2 ** ((packed & 7) + 1); // local colour table
      p++; // LZW minimum code size
      skipSubBlocks();
    } else {
      assert.fail(`unexpected GIF block 0x${b?.toString(16)} at ${p - 1}`);
    }
  }
  return { width, height, frames, loops };
}

test('train a clip DiT; info says so; sample writes a GIF per clip and an (N, T, H, W, C) npz with DDIM, DPM-Solver++ and guidance', () => {
  const out = at('run');
  const r = diffuse('train', ...TINY_CLIP, '--steps', '2', '--preview-interval', '2', '--out', out);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /training 4-frame clips of 20×20×1 on moving-digits/);
  assert.ok(existsSync(path.join(out, 'previews', 'step-0000002.png')), 'a preview strip');
  const state = JSON.parse(readFileSync(path.join(out, 'checkpoints', 'step-0000002', 'state.json'), 'utf8')) as { config: { model: Record<string, unknown> } };
  assert.deepEqual([state.config.model['frames'], state.config.model['temporalPatch'], state.config.model['imageSize']], [4, 2, 20]);
  const info = diffuse('info', out);
  assert.equal(info.code, 0, info.stderr);
  assert.match(info.stdout, /DiT clip model: 4 frames of 20×20, patch pt=2 × p=4/);

  for (const [name, flags] of [['ddim', ['--sampler', 'ddim', '--steps', '3']], ['dpm', ['--sampler', 'dpmpp-2m', '--steps', '3', '--guidance', '2']]] as const) {
    const s = diffuse('sample', '--checkpoint', out, '--n', '3', ...flags, '--out', at(name));
    assert.equal(s.code, 0, s.stderr);
    const gifs = readdirSync(at(`${name}/clips`)).sort();
    assert.deepEqual(gifs, ['000000.gif', '000001.gif', '000002.gif']);
    for (const g of gifs) assert.deepEqual(readGif(readFileSync(at(`${name}/clips/${g}`))), { width: 20, height: 20, frames: 4, loops: true });
    const npz = readNpzSync(at(`${name}/samples.npz`));
    assert.deepEqual(npz.get('arr_0')!.shape, [3, 4, 20, 20, 1]);
    assert.equal(npz.get('arr_0')!.dtype, 'uint8');
    assert.deepEqual(Array.from(npz.get('arr_1')!.data as BigInt64Array, Number), [0, 1, 2]);
    assert.ok(existsSync(at(`${name}/grid.png`)));
  }
});

test('a clip run stopped after 2 steps and resumed to 4 equals 4 straight steps bit for bit', () => {
  assertResumeBitExact(TINY_CLIP, at('straight'), at('split'));
});

test('clips and images that do not go together: one line, exit 2, nothing written', () => {
  assertUserError(diffuse('train', '--data', 'moving-digits', '--steps', '1', '--out', at('unet')), /moving-digits makes clips, which only the DiT takes: add --model dit/);
  assertUserError(diffuse('train', '--data', 'mnist', '--model', 'dit', '--frames', '4', '--steps', '1', '--out', at('img')), /mnist gives images, and this is a clip model \(4 frames\)/);
  assertUserError(diffuse('train', ...TINY_CLIP, '--image-size', '16', '--steps', '1', '--out', at('small')), /need a canvas of at least 17, got 16/);
  assertUserError(diffuse('train', ...TINY_CLIP, '--frames', '3', '--steps', '1', '--out', at('odd')), /3 frames are not divisible by the temporal patch 2/);
  assertUserError(diffuse('train', ...TINY_CLIP, '--eval-interval', '5', '--steps', '1', '--out', at('eval')), /--eval-interval: FID\/KID score images, and this is a clip model/);
  for (const p of ['unet', 'img', 'small', 'odd', 'eval']) assert.ok(!existsSync(at(p)), `${p}: nothing written`);
  // An image run resumed on clips, and image-only commands given a clip model.
  const image = diffuse('train', '--data', 'mnist', '--model', 'dit', '--image-size', '20', '--patch-size', '4', '--hidden-size', '16', '--depth', '1', '--num-heads', '2', '--batch-size', '4', '--steps', '1', '--out', at('image'));
  assert.equal(image.code, 0, image.stderr);
  assertUserError(diffuse('train', '--resume', '--data', 'moving-digits', '--steps', '2', '--out', at('image')), /moving-digits gives clips of 8 frames, and this is an image model/);
  assertUserError(diffuse('animate', '--checkpoint', at('straight'), '--out', at('a.gif')), /a clip model \(4 frames\); diffuse animate takes image models/);
  assertUserError(diffuse('nll', '--checkpoint', at('straight')), /a clip model \(4 frames\); diffuse nll takes image models/);
});
