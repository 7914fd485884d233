// The confident-classifier share of `diffuse fid`: a closed form on hand-made logits, and the
// invariants on the shipped digits network — real held-out digits score high, blends of two
// digits (malformed, between classes) low, a set of copies of one confident digit exactly 1.
// (Pure uniform noise is not low: the classifier is overconfident off its data, measured 0.86;
// FID is the figure that sees noise, this one sees digits that are neither one class nor another.)
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as torch from '@diffuse/torch';
import { confidentShare, digitsTensors, loadDigitsExtractor, TRAIN_DIGITS } from '../src/index.js';

torch.setNumThreads(1);

test('confidentShare counts the rows whose top softmax probability exceeds τ (closed form)', () => {
  // Row logits (a, 0, …, 0) over K = 10 classes have p_max = eᵃ / (eᵃ + 9): above 0.9 iff eᵃ > 81.
  const rows = [50, 0, Math.log(80), Math.log(82)].map((a) => [a, ...new Array<number>(9).fill(0)]);
  const logits = torch.tensor(rows.flat(), { shape: [4, 10] });
  try {
    // 50: p ≈ 1 (yes); 0: p = 0.1 (no); ln 80: p = 80/89 ≈ 0.899 (no); ln 82: p = 82/91 ≈ 0.901 (yes).
    assert.equal(confidentShare(logits), 2 / 4);
    assert.equal(confidentShare(logits, 0.5), 3 / 4); // 80/89 > 0.5 as well
    assert.equal(confidentShare(logits, 0), 1); // every p_max ≥ 1/K > 0
    assert.throws(() => confidentShare(logits, 1), RangeError);
  } finally {
    logits.dispose();
  }
});

test('digits network: real held-out digits ≥ 0.95, blends of two digits ≤ 0.7, copies of one confident digit exactly 1', () => {
  const extractor = loadDigitsExtractor();
  const { x, y } = digitsTensors(TRAIN_DIGITS, 10000);
  try {
    torch.tidy(() => {
      const real = confidentShare(extractor.extract(x).logits!);
      assert.ok(real >= 0.95, `real digits ${real}`);
      // Held-out digit i averaged with digit i + 1000 (measured 0.51 on the shipped network).
      const blends = x.narrow(0, 0, 1000).add(x.narrow(0, 1000, 1000)).div(2); // (1000, 1, 28, 28)
      const blendShare = confidentShare(extractor.extract(blends).logits!);
      assert.ok(blendShare <= 0.7 && blendShare < real - 0.25, `blends ${blendShare}, real ${real}`);
      const first = x.narrow(0, 0, 1); // (1, 1, 28, 28)
      const pFirst = extractor.extract(first).logits!.softmax(-1).max().item();
      assert.ok(pFirst > 0.9, `the first held-out digit is classified with p = ${pFirst}`);
      const copies = first.expand([64, 1, 28, 28]).contiguous(); // (64, 1, 28, 28)
      assert.equal(confidentShare(extractor.extract(copies).logits!), 1);
    });
  } finally {
    torch.dispose([x, y]);
    extractor.dispose();
  }
});
