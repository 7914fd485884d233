// The bad-input table of docs/reliability.md through the real `diffuse` command: damaged images,
// image kinds that are converted, npz files of the wrong dtype or shape, truncated or altered
// safetensors, and out-of-range numbers. Each mistake is one stderr line naming the file and the
// fix, exit code 2, and no output left behind. (More cases are in cli-errors.test.ts.)
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { epochPermutation } from '../src/data/shuffle.js';
import { writeNpz } from '../src/io/npz.js';
import { loadCheckpoint, resolveCheckpointDir } from '../src/train/checkpoint.js';
import { assertUserError, diffuse, TINY_MODEL } from './cli-helpers.js';
import { rawImage, solid, tempDir } from './io-helpers.js';

const { dir: work, cleanup } = tempDir('cli-bad-input');
after(cleanup);

const at = (...parts: string[]): string => path.join(work, ...parts);
const folder = (name: string): string => {
  mkdirSync(at(name), { recursive: true });
  return at(name);
};
const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** One training step of the tiny model, batch 1 unless extra flags say otherwise. */
const train = (data: string, out: string, ...extra: string[]) =>
  diffuse('train', '--data', data, '--out', out, ...TINY_MODEL, '--batch-size', '1', '--steps', '1', '--log-interval', '0', ...extra);

before(async () => {
  const png = await rawImage(solid(16, 16, [10, 200, 30]), 16, 16, 3).png().toBuffer();
  const jpg = await rawImage(solid(16, 16, [10, 200, 30]), 16, 16, 3).jpeg().toBuffer();
  const corrupt = Buffer.from(png);
  corrupt[corrupt.length - 30]! ^= 0xff; // a byte of the compressed pixels: the IDAT CRC fails
  writeFileSync(path.join(folder('corrupt-png'), 'a.png'), corrupt);
  writeFileSync(path.join(folder('truncated-png'), 'a.png'), png.subarray(0, png.length - 20));
  writeFileSync(path.join(folder('truncated-jpg'), 'a.jpg'), jpg.subarray(0, jpg.length >> 1));
  // Every kind that is converted rather than refused, and a file that is no image at all.
  const mixed = folder('mixed');
  await rawImage(solid(16, 16, [10, 200, 30]), 16, 16, 3).toColourspace('rgb16').png().toFile(path.join(mixed, 'rgb16.png'));
  await rawImage(solid(16, 16, [10, 200, 30, 128]), 16, 16, 4).png().toFile(path.join(mixed, 'rgba.png'));
  await rawImage(solid(16, 16, [10, 200, 30]), 16, 16, 3).png({ palette: true, colours: 2, dither: 0 }).toFile(path.join(mixed, 'palette.png'));
  await rawImage(solid(16, 16, [90]), 16, 16, 1).toColourspace('b-w').png().toFile(path.join(mixed, 'gray.png'));
  await rawImage(solid(3, 2, [250, 20, 40]), 3, 2, 3).png().toFile(path.join(mixed, 'small.png'));
  writeFileSync(path.join(mixed, 'notes.txt'), 'not an image');
  for (let i = 0; i < 5; i++) cpSync(path.join(mixed, 'gray.png'), path.join(folder('gray-only'), `gray${i}.png`));
  // Four good images and one that breaks, for a failure a few steps into a run.
  const late = folder('late');
  for (let i = 0; i < 4; i++) await rawImage(solid(8, 8, [40 * i]), 8, 8, 1).png().toFile(path.join(late, `ok${i}.png`));
  writeFileSync(path.join(late, 'ok4.png'), corrupt);
  await writeNpz(at('int32.npz'), { arr_0: { dtype: 'int32', shape: [2, 8, 8, 1], data: new Int32Array(128) } });
  await writeNpz(at('rgba.npz'), { arr_0: { dtype: 'uint8', shape: [2, 8, 8, 4], data: new Uint8Array(512) } });
});

test('corrupt PNG, truncated PNG and truncated JPEG: one line naming the file, exit 2, no output', () => {
  for (const [name, file] of [['corrupt-png', 'a.png'], ['truncated-png', 'a.png'], ['truncated-jpg', 'a.jpg']] as const) {
    const out = at(`out-${name}`);
    assertUserError(train(at(name), out), new RegExp(`${escape(path.join(at(name), file))}: cannot decode image .*remove or replace the file`));
    assert.ok(!existsSync(out), `${name}: no output folder`);
  }
});

test('16-bit, RGBA, palette, gray and small images are converted; non-image files are skipped', () => {
  // RGB model: gray copied to 3 channels, alpha composited on black, 16-bit to 8-bit, palette
  // expanded, the 3×2 image upsampled (pixel rules: data-decode.test.ts).
  const rgb = train(at('mixed'), at('out-rgb'), '--channels', '3', '--batch-size', '5');
  assert.equal(rgb.code, 0, rgb.stderr);
  assert.match(rgb.stdout, /\(5 images; 1 non-image files skipped\)/);
  // RGB images to a 1-channel model: PIL's "L" luma.
  const gray = train(at('mixed'), at('out-gray'), '--channels', '1', '--batch-size', '5');
  assert.equal(gray.code, 0, gray.stderr);
  // Grayscale images to an RGB model by --resume (the channels come from the checkpoint).
  const resumed = diffuse('train', '--out', at('out-rgb'), '--resume', '--data', at('gray-only'), '--steps', '2');
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.equal(loadCheckpoint(resolveCheckpointDir(at('out-rgb'))).state.step, 2);
});

test('an image that breaks mid-run: the steps done are saved and --resume goes on without it', () => {
  // Precondition: with seed 0 the broken file (index 4) is not the first of the epoch.
  const first = Array.from(epochPermutation(5, 0, 0)).indexOf(4);
  assert.ok(first > 0, 'the broken file comes after at least one good step');
  const out = at('out-late');
  const r = train(at('late'), out, '--steps', '20', '--channels', '1', '--save-interval', '0');
  const bad = escape(path.join(at('late'), 'ok4.png'));
  assertUserError(r, new RegExp(`${bad}: cannot decode image .*training stopped after step ${first}, saved in (\\S+); continue with --resume`));
  const ck = loadCheckpoint(resolveCheckpointDir(out));
  assert.equal(ck.state.step, first);
  rmSync(path.join(at('late'), 'ok4.png'));
  const resumed = diffuse('train', '--out', out, '--resume', '--steps', String(first + 2));
  assert.equal(resumed.code, 0, resumed.stderr);
});

test('npz of the wrong dtype or shape; fewer images than one batch', () => {
  assertUserError(train(at('int32.npz'), at('out-int32')), /int32\.npz: arr_0 has dtype int32; images must be uint8 \(0\.\.255, NHWC\) or float32\/float64/);
  assertUserError(train(at('rgba.npz'), at('out-rgba')), /rgba\.npz: arr_0 is \(2, 8, 8, 4\) uint8; expected uint8 \(N, H, W, C\) with C = 1 or 3/);
  assertUserError(train(at('gray-only'), at('out-few'), '--batch-size', '6'), /gray-only: the dataset has 5 images, fewer than one batch of 6; lower the batch size or add images/);
  for (const o of ['out-int32', 'out-rgba', 'out-few']) assert.ok(!existsSync(at(o)), `${o}: no output folder`);
});

test('truncated and altered safetensors checkpoints, and resume flags that change the model', () => {
  const run = at('run');
  assert.equal(diffuse('train', '--data', 'mnist', '--out', run, ...TINY_MODEL, '--batch-size', '2', '--steps', '1').code, 0);
  const ck = resolveCheckpointDir(run);
  const damaged = (name: string, edit: (file: string) => void, file = 'model.safetensors'): string => {
    const dir = at(name);
    cpSync(ck, dir, { recursive: true });
    edit(path.join(dir, file));
    return dir;
  };
  const truncated = damaged('truncated', (f) => truncateSync(f, readFileSync(f).length - 100));
  // The first tensor's shape edited in the header, so its bytes no longer fit it.
  const edited = damaged('edited', (f) => writeFileSync(f, readFileSync(f, 'latin1').replace('"shape":[8]', '"shape":[9]'), 'latin1'));
  const appended = damaged('appended', (f) => writeFileSync(f, Buffer.concat([readFileSync(f), Buffer.alloc(8)])));
  const sample = (dir: string) => diffuse('sample', '--checkpoint', dir, '--out', at('samples'), '--n', '1');
  const fix = 'the checkpoint is damaged: copy it again, or use an earlier one';
  assertUserError(sample(truncated), new RegExp(`truncated/model\\.safetensors: invalid safetensors file: the file is truncated: .*; ${fix}`));
  assertUserError(sample(edited), new RegExp(`edited/model\\.safetensors: invalid safetensors file: tensor "[^"]+" has shape \\[9\\] of F32 \\(36 bytes\\) but data_offsets \\[0, 32\\] span 32 bytes; ${fix}`));
  assertUserError(sample(appended), new RegExp(`appended/model\\.safetensors: invalid safetensors file: 8 bytes after the last tensor .*; ${fix}`));
  assert.ok(!existsSync(at('samples')), 'no samples written');
  // --resume reads the optimizer state too.
  const resumeRun = at('resume-run');
  mkdirSync(path.join(resumeRun, 'checkpoints'), { recursive: true });
  cpSync(damaged('truncated-state', (f) => truncateSync(f, 1000), 'train-state.safetensors'), path.join(resumeRun, 'checkpoints', path.basename(ck)), { recursive: true });
  assertUserError(diffuse('train', '--out', resumeRun, '--resume', '--steps', '2'), new RegExp(`train-state\\.safetensors: invalid safetensors file: .*; ${fix}`));
  assertUserError(diffuse('train', '--out', run, '--resume', '--steps', '2', '--model-channels', '16'), /--resume continues the saved run's model, diffusion and optimizer; drop --model-channels/);
  assert.deepEqual(readdirSync(path.join(run, 'checkpoints')).sort(), ['latest', path.basename(ck)], 'the run is untouched');
});

test('out-of-range numbers name the flag and the allowed range', () => {
  assertUserError(diffuse('train', '--data', 'mnist', '--out', at('r1'), '--batch-size', '0'), /--batch-size: must be at least 1, got 0/);
  assertUserError(diffuse('train', '--data', 'mnist', '--out', at('r2'), '--channels', '2'), /channels must be 1 or 3, got 2/);
  assertUserError(diffuse('sample', '--checkpoint', 'digits-cpu', '--out', at('r3'), '--n', '0'), /--n: must be at least 1, got 0/);
  for (const r of ['r1', 'r2', 'r3']) assert.ok(!existsSync(at(r)), `${r} not written`);
});
