// `diffuse finetune`, `sample --lora` and `lora merge` end to end on a tiny base: the adapter is
// the only output, a split fine-tune resumed equals a straight one bit for bit, scale 0 is the
// base exactly, a merged model samples like the adapter applied, and every mistake is one line.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import * as torch from '@diffuse/torch';

import { readLoraFile } from '../src/adapters/lora-file.js';
import { readNpzSync } from '../src/io/npz.js';
import { assertUserError, diffuse, readTrainLog, TINY_MODEL } from './cli-helpers.js';

let dir = '';
const at = (p: string): string => path.join(dir, p);
// fp32 everywhere: the merged-vs-applied comparison is about the merge, not bfloat16 rounding.
const FP32 = ['--precision', 'fp32'];
const FINETUNE = ['--data', 'mnist', '--lora-rank', '2', '--targets', 'attn,res', '--batch-size', '4', '--lr', '1e-2', '--log-interval', '1', ...FP32];
const SAMPLE = ['--n', '4', '--steps', '3', ...FP32];

function ok(r: ReturnType<typeof diffuse>): void {
  assert.equal(r.code, 0, r.stderr);
}

/** The sampled images of a `diffuse sample` output folder. */
function images(out: string): Uint8Array {
  return readNpzSync(path.join(out, 'samples.npz')).get('arr_0')!.data as Uint8Array;
}

before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'diffuse-cli-lora-'));
  const base = ['train', '--data', 'mnist', ...TINY_MODEL, '--attention-ds', '2', '--num-heads', '2', '--steps', '2', '--batch-size', '4', '--log-interval', '0', ...FP32];
  ok(diffuse(...base, '--out', at('base')));
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('finetune writes only the adapter; a resumed fine-tune equals a straight one bit for bit', () => {
  const r = diffuse('finetune', '--checkpoint', at('base'), '--out', at('ft'), ...FINETUNE, '--steps', '4', '--save-interval', '2');
  ok(r);
  assert.match(r.stdout, /adapter: .*lora\.safetensors \([\d,]+ parameters = [\d.]+ % of the base; [\d.]+ KiB\)/);
  const file = readLoraFile(at('ft'));
  assert.equal(file.meta.step, 4);
  assert.equal(file.meta.rank, 2);
  assert.deepEqual(file.meta.targets, ['attn', 'res']);
  assert.ok(Object.keys(file.tensors).every((k) => /\.lora_[AB]\.weight$/.test(k)));
  assert.equal(Object.keys(file.tensors).length, 2 * file.meta.paths.length);
  assert.ok(file.meta.paths.some((p) => p.endsWith('.qkv')) && file.meta.paths.some((p) => p.endsWith('in_layers.2')));

  // 2 steps, then --resume to 4: the same adapter and the same losses as 4 straight steps.
  ok(diffuse('finetune', '--checkpoint', at('base'), '--out', at('split'), ...FINETUNE, '--steps', '2', '--save-interval', '2'));
  const resumed = diffuse('finetune', '--out', at('split'), '--resume', '--steps', '4');
  ok(resumed);
  assert.match(resumed.stdout, /resuming .*step-0000002 at step 2/);
  const split = readLoraFile(at('split'));
  for (const [k, t] of Object.entries(file.tensors)) assert.ok(t.equal(split.tensors[k]!), `${k} differs after resume`);
  assert.deepEqual(readTrainLog(at('split')).map((row) => row.loss), readTrainLog(at('ft')).map((row) => row.loss));
  torch.dispose(file.tensors);
  torch.dispose(split.tensors);
});

test('sample --lora: scale 0 is the base exactly; lora merge samples like the adapter applied', () => {
  ok(diffuse('sample', '--checkpoint', at('base'), ...SAMPLE, '--out', at('s-base')));
  ok(diffuse('sample', '--checkpoint', at('base'), '--lora', `${at('ft')}:0`, ...SAMPLE, '--out', at('s-zero')));
  // Scale 0 skips the adapter: the same ops as the base, so the same bytes.
  assert.deepEqual(images(at('s-zero')), images(at('s-base')));
  const applied = diffuse('sample', '--checkpoint', at('base'), '--lora', `${at('ft')}:0.8,${at('split')}:0.2`, ...SAMPLE, '--out', at('s-lora'));
  ok(applied);
  assert.match(applied.stdout, /LoRA .*lora\.safetensors at scale 0\.8/);
  ok(diffuse('lora', 'merge', '--checkpoint', at('base'), '--lora', `${at('ft')}:0.8,${at('split')}:0.2`, '--out', at('merged')));
  assert.ok(existsSync(at('merged/model.safetensors')) && existsSync(at('merged/state.json')));
  ok(diffuse('sample', '--checkpoint', at('merged'), ...SAMPLE, '--out', at('s-merged')));
  // (W + cBA)x vs Wx + cB(Ax): float32 rounding, which may move a pixel by a level or two after
  // 3 sampler steps and the uint8 quantisation.
  const a = images(at('s-lora'));
  const b = images(at('s-merged'));
  const worst = a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
  assert.ok(worst <= 3, `merged vs applied: a pixel differs by ${worst}`);
});

test('bad input is one line and exit code 2', () => {
  assertUserError(diffuse('sample', '--checkpoint', 'digits-cpu', '--lora', at('ft'), ...SAMPLE, '--out', at('x1')), /fine-tuned from another base model/);
  assertUserError(diffuse('lora', 'merge', '--checkpoint', 'digits-cpu', '--lora', at('ft'), '--out', at('x2')), /fine-tuned from another base model/);
  assertUserError(diffuse('finetune', '--checkpoint', at('base'), '--out', at('x3'), ...FINETUNE, '--lora-rank', '0'), /--lora-rank: must be at least 1/);
  assertUserError(diffuse('finetune', '--checkpoint', at('base'), '--out', at('x4'), ...FINETUNE, '--targets', 'nothing'), /--targets: .*'nothing' matches no/);
  assertUserError(diffuse('finetune', '--out', at('ft'), '--resume', '--lora-rank', '8'), /drop --lora-rank/);
  assertUserError(diffuse('finetune', '--checkpoint', at('base'), '--out', at('ft'), ...FINETUNE), /already holds a training run/);
  assertUserError(diffuse('sample', '--checkpoint', at('ft'), ...SAMPLE, '--out', at('x5')), /sample it on its base/);
  assertUserError(diffuse('sample', '--checkpoint', at('base'), '--lora', `${at('ft')}:big`, ...SAMPLE, '--out', at('x6')), /scale after ':' must be a number/);
  assertUserError(diffuse('sample', '--checkpoint', at('base'), '--lora', at('nowhere'), ...SAMPLE, '--out', at('x7')), /no such LoRA/);
  assertUserError(diffuse('lora', 'split', '--checkpoint', at('base')), /unknown action 'split'/);
  assert.ok(!existsSync(at('x3')) && !existsSync(at('x4')), 'nothing written for refused fine-tunes');
});
