// `diffuse fid` and `diffuse nll` from the command line: the JSON report, and one-line errors
// (exit 2) for the user's mistakes.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { loadMnistDigits, TRAIN_DIGITS, writeNpz, type Evaluation } from '../src/index.js';
import { main } from '../src/cli/main.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'diffuse-eval-cli-'));
process.env.DIFFUSE_CACHE_DIR = dir;
after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the CLI, capturing stdout and stderr. */
async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const [log, error] = [console.log, console.error];
  console.log = (...a: unknown[]) => void out.push(a.join(' '));
  console.error = (...a: unknown[]) => void err.push(a.join(' '));
  try {
    return { code: await main(argv), out: out.join('\n'), err: err.join('\n') };
  } finally {
    [console.log, console.error] = [log, error];
  }
}

test('diffuse fid SAMPLES.npz mnist:test --json reports every metric on the digits network', async () => {
  const px = 28 * 28;
  const npz = path.join(dir, 'samples.npz');
  // 300 held-out digits as "samples": gray 28×28, so the digits network is chosen by default.
  await writeNpz(npz, { arr_0: { dtype: 'uint8', shape: [300, 28, 28, 1], data: loadMnistDigits().images.slice(TRAIN_DIGITS * px, (TRAIN_DIGITS + 300) * px) } });
  const r = await run('fid', npz, 'mnist:test', '--json', '--kid-subsets', '5', '--threads', '1');
  assert.equal(r.code, 0, r.err);
  const e = JSON.parse(r.out) as Evaluation;
  assert.equal(e.features.name, 'digits');
  assert.deepEqual([e.a.n, e.b.n, e.kid.subsets, e.kid.subsetSize, e.k], [300, 2000, 5, 300, 3]);
  assert.ok(e.fid > 0 && e.fid < 10, `FID ${e.fid}`); // a subset of B: close to it
  assert.equal(e.precision, 1); // every A image is a B image
  assert.ok(e.recall > 0 && e.recall < 1);
  assert.ok(e.inceptionScore!.a.mean > 1 && e.inceptionScore!.b.mean > 5);
  // Real digits: the classifier is confident on nearly all of A and of B.
  assert.equal(e.confident!.threshold, 0.9);
  assert.ok(e.confident!.a > 0.9 && e.confident!.b > 0.9, `confident ${JSON.stringify(e.confident)}`);
  assert.equal(e.b.cached, false);
  assert.ok(e.b.cacheFile!.startsWith(dir));
});

test("the user's mistakes are one line on stderr and exit 2", async () => {
  const cases: [string[], RegExp][] = [
    [['fid', 'mnist'], /needs A B/],
    [['fid', path.join(dir, 'missing.npz'), 'mnist'], /missing\.npz: no such file or folder/],
    [['fid', 'mnist:test', 'mnist', '--features', 'inception'], /convert-inception-weights\.py/],
    [['fid', 'mnist:test', 'mnist', '--features', 'inception', '--inception-weights', path.join(dir, 'none.safetensors')], /none\.safetensors: cannot load the InceptionV3 weights \(no such file\)/],
    [['nll'], /needs --checkpoint/],
    [['fid', 'mnist:test', 'mnist', '--confident-threshold', '1.5'], /confident-threshold/],
  ];
  for (const [argv, message] of cases) {
    const r = await run(...argv);
    assert.equal(r.code, 2, `${argv.join(' ')}: ${r.err}`);
    assert.match(r.err, message);
    assert.equal(r.err.split('\n').length, 1, r.err);
  }
});
