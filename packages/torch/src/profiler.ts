// Where the time goes: per-operator call counts and times, forward and backward, as
// torch.profiler's key_averages() reports them (self time excludes nested operators).
import { native } from './native.js';

/** One operator's sums over a profiled region. */
export interface OpProfile {
  /** The operator ('aten::convolution_backward', 'diffuse::packed_attention', …). */
  name: string;
  calls: number;
  /** Milliseconds from entry to exit, nested operators included. */
  totalMs: number;
  /** Milliseconds spent in the operator itself. */
  selfMs: number;
}

/**
 * Runs fn and returns its result with the operator times recorded on this thread, sorted by
 * self time (largest first). Profiling adds ~1 µs per operator call.
 * @param fn the work to profile (synchronous).
 * @param o clock 'wall' (default) or 'cpu': this thread's CPU time, which other processes on a
 *   busy machine do not inflate — exact when libtorch runs one thread (setNumThreads(1)), and
 *   blind to the other threads' work otherwise.
 * @returns fn's result and the per-operator rows.
 */
export function profile<T>(fn: () => T, o: { clock?: 'wall' | 'cpu' } = {}): { result: T; ops: OpProfile[] } {
  native.profilerStart(o.clock === 'cpu');
  let rows: [string, number, number, number][];
  let result: T;
  try {
    result = fn();
  } finally {
    rows = native.profilerStop();
  }
  const ops = rows.map(([name, calls, totalMs, selfMs]) => ({ name, calls, totalMs, selfMs }));
  ops.sort((a, b) => b.selfMs - a.selfMs);
  return { result, ops };
}

/**
 * Formats profile rows as a fixed-width table (the top `limit` by self time).
 * @param ops rows from profile().
 * @param limit how many rows.
 * @param per divide times and calls by this (e.g. the number of steps profiled).
 */
export function formatProfile(ops: OpProfile[], limit = 25, per = 1): string {
  const total = ops.reduce((s, o) => s + o.selfMs, 0);
  const lines = [`${'operator'.padEnd(60)} ${'calls'.padStart(7)} ${'self ms'.padStart(9)} ${'self %'.padStart(7)} ${'total ms'.padStart(9)}`];
  for (const o of ops.slice(0, limit)) {
    lines.push(
      `${o.name.slice(0, 60).padEnd(60)} ${(o.calls / per).toFixed(0).padStart(7)} ${(o.selfMs / per).toFixed(1).padStart(9)} ` +
        `${((100 * o.selfMs) / total).toFixed(1).padStart(6)}% ${(o.totalMs / per).toFixed(1).padStart(9)}`,
    );
  }
  lines.push(`${'all operators'.padEnd(60)} ${''.padStart(7)} ${(total / per).toFixed(1).padStart(9)}`);
  return lines.join('\n');
}
