// The ONNX export against libtorch: ONNX Runtime (onnxruntime-web's wasm build, in Node) runs the
// exported graph on random inputs and must give the UNet's own forward within a tolerance, for
// every model option, at two batch sizes and two image sizes (the dynamic dimensions).
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'node:test';
import assert from 'node:assert/strict';

import * as torch from '@diffuse/torch';
import * as ort from 'onnxruntime-web';

import { createModel, loadPipeline, readOnnxMetadata, unetToOnnx, type UNet, type UNetConfig } from '../src/index.js';
import { assertUserError, diffuse } from './cli-helpers.js';

ort.env.wasm.numThreads = 1;

/**
 * Tolerance: max |ORT − libtorch| / max |libtorch| ≤ 1e-5. Both run float32; they differ in
 * summation order (oneDNN vs MLAS convolutions, a fused vs a two-pass group norm), which costs a
 * few ulp per op; measured ~2e-6 over these models.
 */
const REL_TOL = 1e-5;

const tiny: Partial<UNetConfig> = {
  imageSize: null, inChannels: 3, modelChannels: 32, numResBlocks: 1, channelMult: [1, 2], dropout: 0.1,
  numHeads: 2, attentionResolutions: [2], useScaleShiftNorm: false, learnSigma: false,
};

const variants: [string, Partial<UNetConfig>][] = [
  ['plain (no attention, add-embedding norm)', { ...tiny, attentionResolutions: [] }],
  ['learned σ + attention + scale-shift', { ...tiny, learnSigma: true, useScaleShiftNorm: true }],
  ['class-conditional (null class) + attention', { ...tiny, numClasses: 5 }],
  ['guided-diffusion: resblock up/down, new attention order, head channels, avg-pool/nearest resampling', {
    ...tiny, resblockUpdown: true, useNewAttentionOrder: true, numHeadChannels: 16, convResample: false, useScaleShiftNorm: true, channelMult: [1, 2], attentionResolutions: [2, 4],
  }],
];

/** A model whose every weight is random (the zero-initialised output convs too), in eval mode. */
function randomModel(config: Partial<UNetConfig>, seed: number): UNet {
  const gen = new torch.Generator({ seed });
  const model = createModel(config, gen);
  torch.noGrad(() => {
    for (const p of model.parameters()) torch.nn.init.normal_(p, 0, 0.2, gen);
  });
  model.eval();
  return model;
}

async function ortRun(bytes: Uint8Array, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | null): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes);
  try {
    const feeds: Record<string, ort.Tensor> = {
      x: new ort.Tensor('float32', Float32Array.from(x.data() as Float32Array), x.shape as number[]),
      t: new ort.Tensor('float32', Float32Array.from(t.data() as Float32Array), t.shape as number[]),
    };
    if (y !== null) feeds['y'] = new ort.Tensor('int64', BigInt64Array.from(y.data() as BigInt64Array), y.shape as number[]);
    const out = await session.run(feeds);
    return out['out']!.data as Float32Array;
  } finally {
    await session.release();
  }
}

for (const [i, [name, config]] of variants.entries()) {
  test(`ONNX export, ${name}: ONNX Runtime equals libtorch within ${REL_TOL} (relative to max |out|) at two batch and image sizes`, async () => {
    const model = randomModel(config, 100 + i);
    const bytes = unetToOnnx(model, { metadata: { purpose: 'test' } });
    assert.equal(readOnnxMetadata(bytes)['purpose'], 'test');
    const gen = new torch.Generator({ seed: 7 + i });
    for (const [b, h, w] of [[2, 8, 8], [3, 16, 12]] as const) {
      const x = torch.randn([b, 3, h, w], { generator: gen });
      // Fractional timesteps, as rescaled ones are (t·1000/T).
      const t = torch.rand([b], { generator: gen }).mul(999);
      const y = config.numClasses ? torch.tensor(new BigInt64Array(Array.from({ length: b }, (_, k) => BigInt(k % (config.numClasses! + 1)))), { shape: [b] }) : null;
      const want = torch.noGrad(() => model.forward(x, t, y === null ? {} : { y }));
      assert.deepEqual(want.shape, [b, model.outputChannels, h, w]);
      const got = await ortRun(bytes, x, t, y);
      const ref = want.data() as Float32Array;
      assert.equal(got.length, ref.length);
      let maxAbs = 0;
      let maxDiff = 0;
      for (let k = 0; k < ref.length; k++) {
        maxAbs = Math.max(maxAbs, Math.abs(ref[k]!));
        maxDiff = Math.max(maxDiff, Math.abs(ref[k]! - got[k]!));
      }
      assert.ok(maxAbs > 0.1, `the reference output is not trivial (max |out| ${maxAbs})`);
      const rel = maxDiff / maxAbs;
      console.log(`# ${name} B=${b} ${h}×${w}: max |ORT − libtorch| / max |out| = ${rel.toExponential(2)}`);
      assert.ok(rel <= REL_TOL, `relative difference ${rel} over ${REL_TOL}`);
      torch.dispose([x, t, want, ...(y === null ? [] : [y])]);
    }
  });
}

test('diffuse export --format onnx: the shipped digits model, its metadata, and ORT equal to the pipeline (float32); bad --out is one line, exit 2', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'diffuse-export-'));
  try {
    const out = path.join(dir, 'digits.onnx');
    const r = diffuse('export', '--checkpoint', 'digits-cpu', '--format', 'onnx', '--out', out);
    assert.equal(r.code, 0, r.stderr);
    const bytes = new Uint8Array(readFileSync(out));
    const meta = readOnnxMetadata(bytes);
    const pipe = loadPipeline('digits-cpu', { precision: 'fp32' });
    assert.deepEqual(JSON.parse(meta['diffuse.diffusion']!), pipe.config.diffusion);
    assert.equal(meta['diffusion_steps'], String(pipe.config.diffusion.diffusionSteps));
    assert.equal(meta['num_classes'], '0');
    const gen = new torch.Generator({ seed: 3 });
    const x = torch.randn([2, 1, 28, 28], { generator: gen });
    const t = torch.tensor([10, 900], { dtype: 'float32' });
    const want = torch.noGrad(() => pipe.model.forward(x, t)).data() as Float32Array;
    const got = await ortRun(bytes, x, t, null);
    let maxAbs = 0;
    let maxDiff = 0;
    for (let k = 0; k < want.length; k++) {
      maxAbs = Math.max(maxAbs, Math.abs(want[k]!));
      maxDiff = Math.max(maxDiff, Math.abs(want[k]! - got[k]!));
    }
    console.log(`# digits-cpu: max |ORT − libtorch| / max |out| = ${(maxDiff / maxAbs).toExponential(2)}`);
    assert.ok(maxDiff / maxAbs <= REL_TOL);
    assertUserError(diffuse('export', '--checkpoint', 'digits-cpu', '--out', path.join(dir, 'model.bin')), /ending in \.onnx/);
    assertUserError(diffuse('export', '--checkpoint', 'digits-cpu', '--out', path.join(dir, 'missing', 'm.onnx')), /does not exist/);
    assertUserError(diffuse('export', '--checkpoint', dir, '--out', path.join(dir, 'm.onnx')), /no checkpoint/);
    assert.ok(!existsSync(path.join(dir, 'm.onnx')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
