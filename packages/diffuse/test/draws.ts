// Random draws regenerated from a seed, checked against the values PyTorch drew for it.
import assert from 'node:assert/strict';
import * as torch from '@diffuse/torch';

// Where ATen vectorizes its normal transform (AVX2 or better: the CPUs the goldens were made on)
// randn's draws equal PyTorch's bit for bit. On ATen's scalar path (no AVX2, or
// ATEN_CPU_CAPABILITY=default) the same uniforms go through libm's log/cos instead of Sleef's, and
// the float32 Box–Muller results differ by rounding, as PyTorch's own would on that CPU: up to
// 7.4e-7 standard deviations in the draws these tests check; the bound is 2e-6.
const PER_DRAW = torch.cpuInfo().atenCapability === 'default' ? 2e-6 : 0;

/**
 * Asserts that one draw of randn·std equals PyTorch's (bit for bit, or within the scalar path's rounding).
 * @param actual our draw.
 * @param expected PyTorch's draw (float32, as a number).
 * @param std the standard deviation the draws were scaled to.
 * @param label what is checked.
 */
export function assertSameDraw(actual: number, expected: number, std: number, label: string): void {
  if (PER_DRAW === 0) assert.equal(actual, expected, label);
  else assert.ok(Math.abs(actual - expected) <= PER_DRAW * std, `${label}: ${actual} vs ${expected}`);
}

/**
 * How far a sum of n draws of randn·std may move on ATen's scalar path; 0 elsewhere. The
 * per-draw rounding differences are independent in sign, so their sum grows as √n: 4√n bounds.
 * @param n the number of draws summed.
 * @param std their standard deviation.
 */
export function drawSumSlack(n: number, std: number): number {
  return PER_DRAW * std * 4 * Math.sqrt(n);
}
