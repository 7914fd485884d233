// The UNet against a PyTorch mirror of improved-diffusion's UNetModel (test/golden/unet_gen.py):
// the same state-dict keys, shapes, counts and zero-initialised parameters; with the mirror's
// weights loaded, the same output and the same gradients of a fixed loss.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';
import { UNet, type UNetConfig } from '../src/index.js';
import { assertSameDraw, drawSumSlack } from './draws.js';

const GOLDEN = new URL('../../test/golden/', import.meta.url);

interface Golden {
  options: Partial<UNetConfig>;
  keys: string[];
  shapes: Record<string, number[]>;
  numParameters: number;
  zeroInit: string[];
  weightSeed: number;
  weightChecks: Record<string, [number, number]>;
  loss: number;
  gradNorms: Record<string, number>;
  /** ‖g32 − g64‖₂ in the mirror: float32's own rounding noise in each gradient. */
  gradNoiseNorms: Record<string, number>;
  /** max |g32 − g64| for the gradients stored in full. */
  gradNoiseMax: Record<string, number>;
}
const golden = JSON.parse(readFileSync(new URL('unet_golden.json', GOLDEN), 'utf8')) as Record<string, Golden>;

/** Reads a safetensors file (F32 / I64 only, which is all unet_gen.py writes). */
function readSafetensors(name: string): Map<string, Tensor> {
  const buf = readFileSync(new URL(name, GOLDEN));
  const headerLen = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + headerLen).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const base = 8 + headerLen;
  const out = new Map<string, Tensor>();
  for (const [key, { dtype, shape, data_offsets: [a, b] }] of Object.entries(header)) {
    const bytes = buf.buffer.slice(buf.byteOffset + base + a, buf.byteOffset + base + b); // an aligned copy
    const data = dtype === 'F32' ? new Float32Array(bytes) : new BigInt64Array(bytes);
    out.set(key, torch.tensor(data, { shape }).keep());
  }
  return out;
}

/** Largest |a − b| relative to the largest |b|. */
function relErr(a: Tensor, b: Tensor): number {
  return torch.tidy(() => a.sub(b).abs().max().item() / Math.max(b.abs().max().item(), 1e-12));
}

/**
 * Float32 tolerance for a gradient: 1e-4 of its size, widened by the float32 rounding noise the
 * mirror measured for it (its own float32 vs float64 difference), of which both sides carry one
 * independent draw.
 */
function gradTol(scale: number, noise: number): number {
  return 1e-4 * scale + 5 * noise;
}

/** The mirror's test weights: N(0, 0.3²) from one seeded generator, in state-dict order. */
function mirrorWeights(g: Golden): Map<string, Tensor> {
  const gen = new torch.Generator({ seed: g.weightSeed });
  const state = new Map<string, Tensor>();
  for (const k of g.keys) {
    const w = torch.randn(g.shapes[k]!, { generator: gen }).mul_(0.3).keep();
    const [sum, first] = g.weightChecks[k]!;
    // The same libtorch generator gives the same draws; check before trusting them.
    const slack = drawSumSlack(w.numel(), 0.3);
    assert.ok(Math.abs(w.sum().item() - sum) <= 1e-4 * Math.max(1, Math.abs(sum)) + slack, `regenerated ${k} differs from the mirror's`);
    assertSameDraw(w.flatten().select(0, 0).item(), first, 0.3, `regenerated ${k} differs from the mirror's`);
    state.set(k, w);
  }
  return state;
}

for (const name of ['tiny', 'updown']) {
  const g = golden[name]!;

  test(`UNet ${name}: state-dict keys, shapes, parameter count and zero-initialised parameters equal the mirror's`, () => {
    torch.manualSeed(0);
    const model = new UNet(g.options);
    const state = model.stateDict();
    assert.deepEqual([...state.keys()], g.keys);
    for (const [k, v] of state) assert.deepEqual(v.shape, g.shapes[k], k);
    assert.equal(model.numParameters(), g.numParameters);
    const zero = [...state].filter(([, v]) => torch.tidy(() => v.abs().max().item()) === 0).map(([k]) => k);
    assert.deepEqual(zero, g.zeroInit);
  });

  test(`UNet ${name}: output and gradients equal the mirror's with its weights`, () => {
    const model = new UNet(g.options);
    const weights = mirrorWeights(g);
    model.loadStateDict(weights);
    torch.dispose(weights);
    model.eval();
    const io = readSafetensors(`unet_${name}.safetensors`);
    torch.tidy(() => {
      const y = io.get('y');
      const out = model.forward(io.get('x')!, io.get('t')!, y === undefined ? {} : { y }); // (B, outC, H, W)
      const ref = io.get('out')!;
      assert.deepEqual(out.shape, ref.shape);
      const e = relErr(out, ref);
      assert.ok(e < 1e-4, `output relative error ${e}`);

      // The mirror's fixed loss: Σ out·w + ½ mean(out²), w = linspace(−1, 1) over all elements.
      const w = torch.linspace(-1, 1, out.numel()).reshape(out.shape);
      const loss = out.mul(w).sum().add(out.square().mean().mul(0.5));
      assert.ok(Math.abs(loss.item() - g.loss) <= 1e-4 * Math.abs(g.loss), `loss ${loss.item()} vs ${g.loss}`);
      loss.backward();
    });
    const params = new Map(model.namedParameters());
    for (const [key, ref] of io) {
      if (!key.startsWith('grad.')) continue;
      const k = key.slice(5);
      const [diff, scale] = torch.tidy(() => [params.get(k)!.grad!.sub(ref).abs().max().item(), ref.abs().max().item()]);
      assert.ok(diff <= gradTol(scale, g.gradNoiseMax[k]!), `${k}: max gradient difference ${diff} (scale ${scale})`);
    }
    for (const [k, norm] of Object.entries(g.gradNorms)) {
      const ours = torch.tidy(() => params.get(k)!.grad!.norm().item());
      assert.ok(Math.abs(ours - norm) <= gradTol(norm, g.gradNoiseNorms[k]!), `${k}: gradient norm ${ours} vs ${norm}`);
    }
    torch.dispose([...io.values()]);
  });
}
