// Mixed precision for the UNet (run.precision / --precision): 'auto' picks bfloat16 only where the
// CPU computes it natively; a bfloat16 UNet stays within bfloat16 rounding of its float32 self in
// output and parameter gradients, and keeps float32 master weights.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as torch from '@diffuse/torch';
import { computeDtypeFor, createModel, PrecisionError, resolveConfig } from '../src/index.js';
import { flagsToConfig } from '../src/cli/train-flags.js';
import { assertUserError, BIN, TINY_MODEL, type CliResult } from './cli-helpers.js';

// Where oneDNN has no bfloat16 kernels (an AVX2 CPU, or DNNL_MAX_CPU_ISA=AVX2) a bfloat16 conv cannot run.
const NO_BF16_CONV = torch.cpuInfo().bf16Kernels ? false : `oneDNN has no bfloat16 convolutions on ${torch.cpuInfo().onednnIsa} (bfloat16 needs AVX-512; diffuse refuses --precision bf16 there)`;

function relErr(a: torch.Tensor, b: torch.Tensor): number {
  return (a.to('float32').sub(b.to('float32')).abs().max().item() as number) / (b.abs().max().item() as number);
}

test('computeDtypeFor: fp32 and bf16 as asked (bf16 refused without bfloat16 kernels); auto = bfloat16 on a CPU with native bfloat16, float32 elsewhere', () => {
  assert.equal(computeDtypeFor('fp32'), 'float32');
  if (torch.cpuInfo().bf16Kernels) assert.equal(computeDtypeFor('bf16'), 'bfloat16');
  else assert.throws(() => computeDtypeFor('bf16'), PrecisionError);
  const native = torch.cpuHasNativeBf16() ? 'bfloat16' : 'float32';
  assert.equal(computeDtypeFor('auto'), native);
  assert.equal(computeDtypeFor(undefined), native, 'checkpoints from before the setting mean auto');
  assert.equal(computeDtypeFor('auto', 'cuda'), 'float32');
  assert.deepEqual(flagsToConfig({ precision: 'bf16' }), { run: { precision: 'bf16' } });
  assert.equal(resolveConfig('ref-28').run.precision, 'auto');
});

test('auto is float32 where oneDNN is limited below native bfloat16 (DNNL_MAX_CPU_ISA=AVX2), whatever the CPU', () => {
  const index = fileURLToPath(new URL('../src/index.js', import.meta.url));
  const code = `import { computeDtypeFor } from ${JSON.stringify(index)}; console.log(computeDtypeFor('auto'));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { env: { ...process.env, DNNL_MAX_CPU_ISA: 'AVX2' }, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'float32');
});

test('--precision bf16 where oneDNN has no bfloat16 kernels (DNNL_MAX_CPU_ISA=AVX2): one line, exit 2, nothing written', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'diffuse-precision-'));
  try {
    const env = { ...process.env, DIFFUSE_THREADS: '1', DNNL_MAX_CPU_ISA: 'AVX2' };
    const run = (...args: string[]): CliResult => {
      const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env });
      return { code: r.status, stdout: r.stdout, stderr: r.stderr };
    };
    const out = path.join(dir, 'run');
    assertUserError(run('train', '--data', 'mnist', ...TINY_MODEL, '--out', out, '--steps', '1', '--precision', 'bf16'), /precision 'bf16' needs a CPU with AVX-512 .*avx2.*use 'fp32' or 'auto'/);
    assert.equal(existsSync(out), false, 'no run folder');
    assertUserError(run('sample', '--checkpoint', 'digits-cpu', '--n', '1', '--out', path.join(dir, 's'), '--precision', 'bf16'), /needs a CPU with AVX-512/);
    assert.equal(existsSync(path.join(dir, 's')), false, 'no sample folder');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a bfloat16 UNet (channels-last inside) matches its float32 self within bfloat16 rounding, gradients float32', { skip: NO_BF16_CONV }, () => {
  torch.manualSeed(4);
  const model = createModel({
    imageSize: 16, inChannels: 1, modelChannels: 32, outChannels: 2, numResBlocks: 1, channelMult: [1, 2],
    attentionResolutions: [2], numHeads: 2, dropout: 0, useScaleShiftNorm: true,
  });
  // Give the zero-initialised output convs weights, so the comparison sees every path.
  torch.noGrad(() => { for (const p of model.parameters()) if (p.abs().max().item() === 0) p.normal_(0, 0.05); });
  torch.tidy(() => {
    const x = torch.randn([3, 1, 16, 16]); // (B, C, H, W)
    const t = torch.tensor([10, 500, 900], { dtype: 'int64' });
    const w = torch.randn([3, 2, 16, 16]);
    const run = (): [torch.Tensor, torch.Tensor[]] => {
      model.zeroGrad();
      const out = model.forward(x, t);
      out.mul(w).sum().backward();
      return [out.detach(), model.parameters().map((p) => p.grad!.clone())];
    };
    const [ref, refGrads] = run();
    assert.ok(torch.nn.setComputeDtype(model, 'bfloat16') > 10);
    const [low, lowGrads] = run();
    assert.equal(low.dtype, 'float32', 'the model answers in float32');
    assert.equal(low.isContiguous(), true);
    assert.ok(relErr(low, ref) < 3e-2, `output error ${relErr(low, ref)}`);
    // Errors relative to the largest gradient anywhere: a conv bias right before a GroupNorm has a
    // true gradient of 0, which bfloat16 rounding leaves at noise level, not at 0.
    const scale = Math.max(...refGrads.map((g) => g.abs().max().item() as number));
    model.parameters().forEach((p, i) => {
      assert.equal(p.dtype, 'float32', 'master weights stay float32');
      assert.equal(lowGrads[i]!.dtype, 'float32');
      const e = (lowGrads[i]!.sub(refGrads[i]!).abs().max().item() as number) / scale;
      assert.ok(e < 2e-2, `gradient of ${model.namedParameters()[i]![0]}: error ${e} of the largest gradient`);
    });
    // The model's own property sets the whole tree too (its convolutions included).
    torch.nn.setComputeDtype(model, 'float32');
    model.computeDtype = 'bfloat16';
    const [viaProperty] = run();
    assert.equal(viaProperty.sub(low).abs().max().item(), 0, 'model.computeDtype = bfloat16 equals nn.setComputeDtype');
    torch.nn.setComputeDtype(model, 'float32');
    const [again] = run();
    assert.equal(again.sub(ref).abs().max().item(), 0, 'float32 again gives the float32 result exactly');
  });
});
