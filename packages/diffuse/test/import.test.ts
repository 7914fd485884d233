// `diffuse import` against PyTorch: checkpoints saved by torch.save in improved-diffusion's and
// guided-diffusion's format (golden/import_gen.py, the UNet mirror with random weights) must load
// through the restricted unpickler into our UNet and give PyTorch's outputs; a pickle that calls
// anything but the tensor rebuilders is refused with one line, before anything runs.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import * as torch from '@diffuse/torch';

import { loadPipeline } from '../src/pipeline/load.js';
import { readTorchStateDict } from '../src/io/torch-zip.js';
import { PickleError } from '../src/io/pickle.js';
import { writeZip } from '../src/io/zip.js';
import { assertUserError, diffuse } from './cli-helpers.js';

const GOLDEN = fileURLToPath(new URL('../../test/golden/', import.meta.url));
const meta = JSON.parse(readFileSync(path.join(GOLDEN, 'import_golden.json'), 'utf8')) as Record<string, { source: string; flags: string; file: string }>;
const golden = torch.loadSafetensors(path.join(GOLDEN, 'import_golden.safetensors')).tensors;

/**
 * max |ours − PyTorch| / max |PyTorch| ≤ 1e-5: the same float32 network, through our fused
 * norm and attention kernels against PyTorch's eager ops (different summation orders).
 */
const REL_TOL = 1e-5;

let root = '';
test.before(() => void (root = mkdtempSync(path.join(tmpdir(), 'diffuse-import-'))));
test.after(() => rmSync(root, { recursive: true, force: true }));

for (const name of Object.keys(meta)) {
  const m = meta[name]!;
  test(`diffuse import --from ${m.source}: the checkpoint gives PyTorch's output and samples`, () => {
    const out = path.join(root, name);
    const r = diffuse('import', '--from', m.source, path.join(GOLDEN, m.file), '--flags', m.flags, '--out', out);
    assert.equal(r.code, 0, r.stderr);
    const pipe = loadPipeline(out, { precision: 'fp32' });
    const x = golden[`${name}.x`]!;
    const t = golden[`${name}.t`]!;
    const y = golden[`${name}.y`];
    const want = golden[`${name}.out`]!;
    const got = torch.noGrad(() => pipe.model.forward(x, t, y === undefined ? {} : { y }));
    assert.deepEqual(got.shape, want.shape);
    const rel = got.sub(want).abs().max().item() / want.abs().max().item();
    console.log(`# ${name}: max |diffuse − PyTorch| / max |PyTorch| = ${rel.toExponential(2)}`);
    assert.ok(rel <= REL_TOL, `relative difference ${rel}`);
    // It is a checkpoint like any other: diffuse sample takes it.
    const s = diffuse('sample', '--checkpoint', out, '--n', '2', '--steps', '2', '--out', path.join(root, `${name}-samples`), ...(y === undefined ? [] : ['--class', '7']));
    assert.equal(s.code, 0, s.stderr);
    assert.ok(existsSync(path.join(root, `${name}-samples`, 'grid.png')));
  });
}

/** A torch.save-shaped zip whose data.pkl is the given pickle. */
function zipWithPickle(file: string, pickle: Uint8Array): void {
  const chunks = writeZip([{ name: 'archive/data.pkl', chunks: [pickle] }, { name: 'archive/version', chunks: [new TextEncoder().encode('3\n')] }]);
  writeFileSync(file, Buffer.concat(chunks));
}

test('a hostile pickle (os.system) is refused with one line, and nothing runs', () => {
  const marker = path.join(root, 'pwned');
  // PROTO 2; GLOBAL posix.system; BINUNICODE "touch MARKER"; TUPLE1; REDUCE; STOP
  const cmd = new TextEncoder().encode(`touch ${marker}`);
  const len = new Uint8Array(new Uint32Array([cmd.length]).buffer);
  const pickle = new Uint8Array([0x80, 0x02, 0x63, ...new TextEncoder().encode('posix\nsystem\n'), 0x58, ...len, ...cmd, 0x85, 0x52, 0x2e]);
  const file = path.join(root, 'hostile.pt');
  zipWithPickle(file, pickle);
  assert.throws(() => readTorchStateDict(new Uint8Array(readFileSync(file)), file), (e: unknown) => e instanceof PickleError && /refused: the pickle calls posix\.system/.test(e.message));
  const r = diffuse('import', '--from', 'improved-diffusion', file, '--flags', meta['improved']!.flags, '--out', path.join(root, 'hostile-out'));
  assertUserError(r, /refused: the pickle calls posix\.system/);
  assert.ok(!existsSync(marker), 'the command did not run');
  assert.ok(!existsSync(path.join(root, 'hostile-out')), 'no output written');
  // builtins.eval through STACK_GLOBAL (protocol 4) is refused the same way.
  const evalPickle = new Uint8Array([0x80, 0x04, 0x8c, 8, ...new TextEncoder().encode('builtins'), 0x8c, 4, ...new TextEncoder().encode('eval'), 0x93, 0x8c, 1, 0x31, 0x85, 0x52, 0x2e]);
  zipWithPickle(file, evalPickle);
  assert.throws(() => readTorchStateDict(new Uint8Array(readFileSync(file)), file), /refused: the pickle calls builtins\.eval/);
});

test('diffuse import: wrong flags, a file that is no checkpoint and a taken --out are one line each, exit 2', () => {
  const m = meta['improved']!;
  const pt = path.join(GOLDEN, m.file);
  assertUserError(diffuse('import', '--from', 'improved-diffusion', pt, '--flags', m.flags.replace('--num_channels 8', '--num_channels 32'), '--out', path.join(root, 'a')), /shape .* for these flags/);
  assertUserError(diffuse('import', '--from', 'improved-diffusion', pt, '--flags', `${m.flags} --lr 1e-4`, '--out', path.join(root, 'b')), /--lr is not one of improved-diffusion's model or diffusion flags/);
  assertUserError(diffuse('import', '--from', 'improved-diffusion', pt, '--flags', `${m.flags} --resblock_updown True`, '--out', path.join(root, 'c')), /--from guided-diffusion/);
  const notZip = path.join(root, 'x.pt');
  writeFileSync(notZip, 'not a checkpoint');
  assertUserError(diffuse('import', '--from', 'improved-diffusion', notZip, '--flags', m.flags, '--out', path.join(root, 'd')), /not a PyTorch zip checkpoint/);
  assertUserError(diffuse('import', '--from', 'improved-diffusion', pt, '--flags', m.flags, '--out', GOLDEN), /not empty/);
  for (const d of ['a', 'b', 'c', 'd']) assert.ok(!existsSync(path.join(root, d)));
});
