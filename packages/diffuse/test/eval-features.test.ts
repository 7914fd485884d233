// The shipped digits feature network and the image-set pipeline of `diffuse fid`: accuracy on the
// 2,000 held-out digits, an npz of the same digits giving the same features, the reference cache.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import * as torch from '@diffuse/torch';
import {
  computeFeatures, DIGITS_FEATURES_DIR, digitsTensors, evaluateImageSets, loadDigitsExtractor, loadMnistDigits, openImageSet, TRAIN_DIGITS,
  writeNpz, type DigitsFeaturesInfo,
} from '../src/index.js';

// One intra-op thread: on a busy 2-core machine a second thread mostly waits for a core (measured
// 2–8× slower); the results do not depend on it beyond float rounding.
torch.setNumThreads(1);

test('the shipped digits network classifies the 2,000 held-out digits with ≥ 97% accuracy (as its config.json records)', () => {
  const extractor = loadDigitsExtractor();
  const info = JSON.parse(readFileSync(path.join(DIGITS_FEATURES_DIR, 'config.json'), 'utf8')) as DigitsFeaturesInfo;
  const { x, y } = digitsTensors(TRAIN_DIGITS, 10000);
  try {
    const { features, logits } = extractor.extract(x);
    assert.deepEqual(features.shape, [2000, 128]);
    const accuracy = torch.tidy(() => logits!.argmax(1).eq(y).to('float64').mean().item());
    assert.ok(accuracy >= 0.97, `held-out accuracy ${accuracy}`);
    // config.json's figure (measured with 2 threads; rounding may flip a borderline digit).
    assert.ok(Math.abs(accuracy - info.heldOutAccuracy) <= 1e-3, `accuracy ${accuracy}, config.json says ${info.heldOutAccuracy}`);
    torch.dispose([features, logits]);
  } finally {
    torch.dispose([x, y]);
    extractor.dispose();
  }
});

test('an npz of the held-out digits gives the features of mnist:test; FID of a set with itself is 0; the reference is cached', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'diffuse-eval-'));
  const extractor = loadDigitsExtractor();
  try {
    const all = loadMnistDigits();
    const px = 28 * 28;
    const npz = path.join(dir, 'heldout.npz');
    await writeNpz(npz, { arr_0: { dtype: 'uint8', shape: [2000, 28, 28, 1], data: all.images.slice(TRAIN_DIGITS * px) } });
    const fromNpz = await computeFeatures(extractor, await openImageSet(npz, { size: 28, channels: 1 }));
    const fromDigits = await computeFeatures(extractor, await openImageSet('mnist:test', { size: 28, channels: 1 }));
    // The same pixels in the same batches run the same kernels in one process: identical bits.
    assert.equal(torch.tidy(() => fromNpz.features.sub(fromDigits.features).abs().max().item()), 0);
    // Another batch size may make oneDNN/BLAS pick other kernels and summation orders (on AMD Zen 5:
    // max |Δ| 2.4e-6 at features up to 7.4, a few float32 ulps), so there the bound is PyTorch's
    // assert_close for float32: |Δ| ≤ 1e-5 + 1.3e-6·|reference|, element by element.
    const batched = await computeFeatures(extractor, await openImageSet(npz, { size: 28, channels: 1 }), { batchSize: 300 });
    const outside = torch.tidy(() => batched.features.sub(fromDigits.features).abs().gt(fromDigits.features.abs().mul(1.3e-6).add(1e-5)).sum().item());
    assert.equal(outside, 0, 'features at batch 300 vs 50 beyond float32 rounding');
    torch.dispose([fromNpz, fromDigits, batched]);

    const options = { cacheDir: dir, kid: { subsets: 10 } };
    const first = await evaluateImageSets(npz, 'mnist:test', extractor, options);
    assert.equal(first.b.cached, false);
    assert.ok(Math.abs(first.fid) < 1e-6, `FID(A, A) = ${first.fid}`);
    // Subsets drawn from one finite set share images, whose k(x, x) enters only the cross term:
    // E[KID] = −(2/N)(E k(x, x) − E_{x≠x'} k(x, x')) < 0, well beyond the subsets' scatter.
    assert.ok(first.kid.mean < -(2 * first.kid.std) / Math.sqrt(first.kid.subsets), `KID(A, A) = ${first.kid.mean} ± ${first.kid.std}`);
    assert.deepEqual([first.precision, first.recall], [1, 1]);
    assert.equal(first.inceptionScore!.a.mean, first.inceptionScore!.b.mean);
    const second = await evaluateImageSets(npz, 'mnist:test', extractor, options);
    assert.equal(second.b.cached, true);
    assert.equal(second.b.cacheFile, first.b.cacheFile);
    assert.equal(second.fid, first.fid);
    assert.equal(second.kid.mean, first.kid.mean);
  } finally {
    extractor.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});
