// `diffuse controlnet train` and `sample --controlnet` end to end on a tiny base: only the
// ControlNet is written, scale 0 samples are the base's byte for byte, maps come from files or
// the detector, and wrong sizes, colours and bases are one line and exit 2.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import * as torch from '@diffuse/torch';

import { readNpzSync, writeNpz } from '../src/io/npz.js';
import { writePng } from '../src/io/png.js';
import { assertUserError, diffuse, TINY_MODEL } from './cli-helpers.js';

let dir = '';
const at = (p: string): string => path.join(dir, p);
const FP32 = ['--precision', 'fp32'];
const SAMPLE = ['--n', '3', '--steps', '3', ...FP32];

function ok(r: ReturnType<typeof diffuse>): void {
  assert.equal(r.code, 0, r.stderr);
}
function images(out: string): Uint8Array {
  return readNpzSync(path.join(out, 'samples.npz')).get('arr_0')!.data as Uint8Array;
}

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'diffuse-cli-controlnet-'));
  const base = ['train', '--data', 'mnist', ...TINY_MODEL, '--steps', '2', '--batch-size', '4', '--log-interval', '0', ...FP32];
  ok(diffuse(...base, '--out', at('base')));
  // Control maps: 8×8 gray edge maps, one of the wrong size, one in colour.
  mkdirSync(at('maps'));
  const edge = new Uint8Array(64).map((_, i) => (i % 8 === 3 || Math.floor(i / 8) === 5 ? 255 : 0));
  await writePng(at('maps/a.png'), { data: edge, width: 8, height: 8, channels: 1 });
  await writePng(at('maps/b.png'), { data: edge.map((v, i) => (i % 9 === 0 ? 255 : v)), width: 8, height: 8, channels: 1 });
  await writePng(at('small.png'), { data: new Uint8Array(16), width: 4, height: 4, channels: 1 });
  await writePng(at('colour.png'), { data: new Uint8Array(192).map((_, i) => (i % 3 === 0 ? 200 : 10)), width: 8, height: 8, channels: 3 });
  await writeNpz(at('maps.npz'), { arr_0: { dtype: 'uint8', shape: [2, 8, 8, 1], data: Uint8Array.from([...edge, ...edge.reverse()]) } });
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('controlnet train writes only the ControlNet; scale 0 is the base; maps from files, npz and the detector', () => {
  const r = diffuse('controlnet', 'train', '--checkpoint', at('base'), '--control', 'canny', '--data', 'mnist', '--out', at('cn'), '--steps', '2', '--batch-size', '4', '--log-interval', '1', ...FP32);
  ok(r);
  assert.match(r.stdout, /ControlNet: .*controlnet\.safetensors \([\d,]+ parameters; [\d.]+ KiB\)/);
  const { tensors, metadata } = torch.loadSafetensors(at('cn/controlnet.safetensors'));
  assert.equal(metadata?.control, 'canny');
  assert.ok(Object.keys(tensors).some((k) => k.startsWith('zero_convs.')) && Object.keys(tensors).some((k) => k.startsWith('input_hint_block.')));
  assert.ok(Object.keys(tensors).every((k) => /^(time_embed|input_blocks|middle_block|input_hint_block|zero_convs|middle_block_out)\./.test(k)), 'nothing of the decoder');
  torch.dispose(tensors);

  // 1 step, then --resume to 2: the same ControlNet as 2 straight steps, bit for bit.
  ok(diffuse('controlnet', 'train', '--checkpoint', at('base'), '--control', 'canny', '--data', 'mnist', '--out', at('split'), '--steps', '1', '--batch-size', '4', ...FP32));
  ok(diffuse('controlnet', 'train', '--out', at('split'), '--resume', '--steps', '2'));
  const straight = torch.loadSafetensors(at('cn/controlnet.safetensors')).tensors;
  const resumed = torch.loadSafetensors(at('split/controlnet.safetensors')).tensors;
  for (const [k, t] of Object.entries(straight)) assert.ok(t.equal(resumed[k]!), `${k} differs after resume`);
  torch.dispose([straight, resumed]);
  assert.match(diffuse('info', at('cn')).stdout, /ControlNet +on canny maps beside/);

  ok(diffuse('sample', '--checkpoint', at('base'), ...SAMPLE, '--out', at('s-base')));
  ok(diffuse('sample', '--checkpoint', at('base'), '--controlnet', at('cn'), '--control-image', at('maps'), '--control-scale', '0', ...SAMPLE, '--out', at('s-zero')));
  // Scale 0: the joins add exact zeros to the same base ops.
  assert.deepEqual(images(at('s-zero')), images(at('s-base')));
  const withMaps = diffuse('sample', '--checkpoint', at('base'), '--controlnet', at('cn'), '--control-image', at('maps'), ...SAMPLE, '--out', at('s-maps'));
  ok(withMaps);
  assert.match(withMaps.stdout, /with 2 control maps at scale 1/);
  ok(diffuse('sample', '--checkpoint', at('base'), '--controlnet', at('cn'), '--control-image', at('maps.npz'), ...SAMPLE, '--out', at('s-npz')));
  ok(diffuse('sample', '--checkpoint', at('base'), '--controlnet', at('cn'), '--control-image', at('s-base/images'), '--detect', ...SAMPLE, '--out', at('s-detect')));
});

test('ControlNet bad input is one line and exit code 2', () => {
  const cn = ['--controlnet', at('cn'), ...SAMPLE];
  assertUserError(diffuse('sample', '--checkpoint', at('base'), ...cn, '--control-image', at('small.png'), '--out', at('x1')), /the control image is 4×4; this model makes 8×8 images/);
  assertUserError(diffuse('sample', '--checkpoint', at('base'), ...cn, '--control-image', at('colour.png'), '--out', at('x2')), /has colour \(3 channels\); this ControlNet takes 1-channel/);
  assertUserError(diffuse('sample', '--checkpoint', 'digits-cpu', ...cn, '--control-image', at('maps'), '--out', at('x3')), /trained beside another base model/);
  assertUserError(diffuse('sample', '--checkpoint', at('base'), ...cn, '--out', at('x4')), /--controlnet needs --control-image/);
  assertUserError(diffuse('sample', '--checkpoint', at('base'), '--control-image', at('maps'), ...SAMPLE, '--out', at('x5')), /--control-image needs --controlnet/);
  assertUserError(diffuse('sample', '--checkpoint', at('base'), '--controlnet', at('maps'), '--control-image', at('maps'), ...SAMPLE, '--out', at('x6')), /no such ControlNet/);
  assertUserError(diffuse('controlnet', 'train', '--checkpoint', at('base'), '--control', 'sobel', '--out', at('x7')), /--control: must be one of canny, scribble, lowres/);
  assertUserError(diffuse('sample', '--checkpoint', at('cn'), ...SAMPLE, '--out', at('x8')), /a ControlNet run holds only its own weights; sample it on its base/);
});
