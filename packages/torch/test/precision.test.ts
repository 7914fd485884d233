// Mixed precision pieces: layout_cast's gradient layout, bfloat16 convolutions against float32,
// setComputeDtype, and the operator profiler's counts.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import * as torch from '../src/index.js';

// Where oneDNN has no bfloat16 kernels (an AVX2 CPU, or DNNL_MAX_CPU_ISA=AVX2) a bfloat16 conv cannot run.
const NO_BF16_CONV = torch.cpuInfo().bf16Kernels ? false : `oneDNN has no bfloat16 convolutions on ${torch.cpuInfo().onednnIsa} (bfloat16 needs AVX-512; diffuse refuses --precision bf16 there)`;

function relErr(a: torch.Tensor, b: torch.Tensor): number {
  return (a.to('float32').sub(b.to('float32')).abs().max().item() as number) / (b.to('float32').abs().max().item() as number);
}

test('layoutCast changes dtype and layout in one op, and its gradient returns in the input dtype and layout', () => {
  torch.tidy(() => {
    torch.manualSeed(0);
    const x = torch.randn([2, 3, 4, 5]).requiresGrad_(); // (B, C, H, W) float32, contiguous
    const y = torch.nn.layoutCast(x, 'bfloat16', true);
    assert.equal(y.dtype, 'bfloat16');
    assert.equal(y.isContiguous(), false);
    assert.equal(y.isContiguous('channelsLast'), true);
    assert.deepEqual(y.toArray(), x.to('bfloat16').toArray()); // same values, same rounding as aten::to
    const w = torch.randn([2, 3, 4, 5]);
    y.to('float32').mul(w).sum().backward();
    assert.equal(x.grad!.dtype, 'float32');
    assert.equal(x.grad!.isContiguous(), true, 'the gradient comes back NCHW, as x is');
    assert.deepEqual(x.grad!.toArray(), w.to('bfloat16').to('float32').toArray());
    // And the other way round: a channels-last bfloat16 input gets a channels-last bfloat16 gradient.
    const z = torch.randn([2, 3, 4, 5]).to('bfloat16').contiguous('channelsLast').requiresGrad_();
    torch.nn.layoutCast(z, 'float32', false).sum().backward();
    assert.equal(z.grad!.dtype, 'bfloat16');
    assert.equal(z.grad!.isContiguous('channelsLast') && !z.grad!.isContiguous(), true);
    assert.throws(() => torch.nn.layoutCast(torch.zeros([3, 4]), 'bfloat16', true), (e: Error) => /channels-last needs a 4-d tensor/.test(e.message));
  });
});

test('Conv2d and Conv1d with computeDtype bfloat16 stay within bfloat16 rounding of float32, with float32 gradients', { skip: NO_BF16_CONV }, () => {
  torch.tidy(() => {
    torch.manualSeed(1);
    for (const [conv, shape] of [
      [new torch.nn.Conv2d(16, 32, 3, { padding: 1 }), [4, 16, 12, 12]],
      [new torch.nn.Conv1d(16, 48, 1), [4, 16, 30]],
    ] as const) {
      const x = torch.randn([...shape]);
      const ref = conv.forward(x); // float32
      const g = torch.randn(ref.shape);
      ref.mul(g).sum().backward();
      const [refW, refB] = [conv.weight.grad!.clone(), conv.bias!.grad!.clone()];
      conv.zeroGrad();
      assert.equal(torch.nn.setComputeDtype(conv, 'bfloat16'), 1);
      const y = conv.forward(x);
      assert.equal(y.dtype, 'float32', 'a float32 input gets a float32 output');
      assert.ok(relErr(y, ref) < 2e-2, `output error ${relErr(y, ref)}`);
      y.mul(g).sum().backward();
      assert.equal(conv.weight.grad!.dtype, 'float32');
      assert.ok(relErr(conv.weight.grad!, refW) < 2e-2, `weight grad error ${relErr(conv.weight.grad!, refW)}`);
      assert.ok(relErr(conv.bias!.grad!, refB) < 2e-2);
      const low = conv.forward(x.to('bfloat16'));
      assert.equal(low.dtype, 'bfloat16', 'a bfloat16 input stays bfloat16 (no cast back)');
      torch.nn.setComputeDtype(conv, 'float32');
      assert.equal(conv.forward(x).sub(ref).abs().max().item(), 0, 'float32 again is the plain conv');
    }
  });
});

test('profile counts operator calls and splits self from total time', () => {
  torch.tidy(() => {
    const a = torch.randn([64, 64]);
    const { result, ops } = torch.profile(() => {
      let s = a;
      for (let i = 0; i < 7; i++) s = s.add(a);
      return s.matmul(a);
    }, { clock: 'cpu' });
    assert.deepEqual(result.shape, [64, 64]);
    const add = ops.find((o) => o.name === 'aten::add');
    assert.equal(add?.calls, 7);
    for (const o of ops) assert.ok(o.selfMs <= o.totalMs + 1e-9 && o.selfMs >= -1e-9, o.name);
    assert.ok(torch.formatProfile(ops).includes('aten::add'));
    assert.deepEqual(torch.profile(() => 1).ops, [], 'nothing recorded once stopped, nothing in an empty region');
  });
});

function cpuFlags(): Set<string> {
  try {
    return new Set(readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m)?.[1]?.trim().split(/\s+/) ?? []);
  } catch {
    return new Set(); // not Linux: the function must say false
  }
}

/** cpuInfo() in a fresh process whose environment limits the kernels' instruction sets. */
function cpuInfoUnder(env: Record<string, string>): torch.CpuInfo {
  const index = fileURLToPath(new URL('../src/index.js', import.meta.url));
  const code = `import * as torch from ${JSON.stringify(index)}; console.log(JSON.stringify(torch.cpuInfo()));`;
  const clean = { ...process.env };
  for (const k of ['DNNL_MAX_CPU_ISA', 'ONEDNN_MAX_CPU_ISA', 'ATEN_CPU_CAPABILITY']) delete clean[k];
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { env: { ...clean, ...env }, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as torch.CpuInfo;
}

test('cpuHasNativeBf16 agrees with /proc/cpuinfo where nothing limits oneDNN, and is false where DNNL_MAX_CPU_ISA does; bfloat16 kernels need AVX-512', () => {
  const flags = cpuFlags();
  const bf16 = flags.has('avx512_bf16') || flags.has('amx_bf16');
  const free = cpuInfoUnder({});
  assert.equal(free.nativeBf16, bf16);
  if (process.env.DNNL_MAX_CPU_ISA === undefined && process.env.ONEDNN_MAX_CPU_ISA === undefined) {
    assert.equal(torch.cpuHasNativeBf16(), bf16);
  }
  // The emulated CPUs of docs/performance.md: oneDNN reports the lowered set, and bfloat16 is not native there.
  if (free.onednnIsa !== null && flags.has('avx2')) {
    const avx2 = cpuInfoUnder({ DNNL_MAX_CPU_ISA: 'AVX2', ATEN_CPU_CAPABILITY: 'avx2' });
    assert.deepEqual([avx2.onednnIsa, avx2.atenCapability, avx2.nativeBf16, avx2.bf16Kernels], ['avx2', 'avx2', false, false]);
    if (flags.has('avx512bw')) {
      const core = cpuInfoUnder({ DNNL_MAX_CPU_ISA: 'AVX512_CORE' });
      assert.deepEqual([core.onednnIsa, core.nativeBf16, core.bf16Kernels], ['avx512_core', false, true], 'bfloat16 emulated on AVX-512');
    }
  }
});
