// The native layer under random calls: fuzz_child.js makes thousands of seeded random calls (random
// shapes with 0-size dims and scalars, every dtype, broadcast-incompatible operands, huge sizes,
// NaN/Infinity, wrong types and argument counts) through the typed Tensor methods and through
// call()/callByName() over ~330 ATen ops. Each child runs in its own process, so an abort inside
// libtorch fails this test naming the call that caused it instead of killing the runner.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import type { Summary } from './fuzz_child.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/**
 * Runs a child script that writes `call <what>` before each call and `result <json>` at the end;
 * resolves with the result, or rejects naming the call the process died in.
 */
function runChild<T>(script: string, args: string[]): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(here, script), ...args], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      // Keep the tail only: the last `call` line is all a crash report needs.
      out = (out + d).slice(-20_000);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const lines = out.trim().split('\n');
      const result = lines.find((l) => l.startsWith('result '));
      if (code === 0 && result !== undefined) {
        resolve(JSON.parse(result.slice('result '.length)) as T);
        return;
      }
      const last = lines.filter((l) => l.startsWith('call ')).at(-1)?.slice('call '.length) ?? '(before the first call)';
      reject(new Error(`${script} ${args.join(' ')}: the process died (${signal ?? `exit ${code}`}) in ${last}`));
    });
  });
}

test('4,000 random native calls: every failure is a one-line JS Error, no abort, no leak', async (t) => {
  // Two seeds in parallel (the machine has two cores); each replays exactly by its seed:
  // `node packages/torch/dist/test/fuzz_child.js <seed> 2000`.
  const runs = await Promise.all([1, 2].map((seed) => runChild<Summary>('fuzz_child.js', [String(seed), '2000'])));
  const errors: Record<string, number> = {};
  for (const s of runs) {
    assert.equal(s.calls, 2000);
    assert.deepEqual(s.violations, [], 'errors that are not one-line Error/TypeError/RangeError');
    // torch.memory() ends where it began: failed calls leak no handle.
    assert.deepEqual(s.after, s.before);
    // Huge sizes (>= 2^40 elements) must fail before allocating, not after touching the memory.
    assert.ok(s.maxRssMB < 1500, `peak RSS ${s.maxRssMB} MB`);
    // The generator reaches both outcomes: a fuzz whose calls all fail would test only the
    // argument conversion, one whose calls all succeed no error path.
    assert.ok(s.ok > s.calls * 0.2 && s.ok < s.calls * 0.8, `${s.ok} of ${s.calls} calls succeeded`);
    assert.ok(s.ops >= 300, `only ${s.ops} ops found in the registry`);
    for (const [k, n] of Object.entries(s.errors)) errors[k] = (errors[k] ?? 0) + n;
  }
  assert.deepEqual(Object.keys(errors).sort(), ['Error', 'RangeError', 'TypeError']);
  const ok = runs.reduce((a, s) => a + s.ok, 0);
  t.diagnostic(`calls 4000, succeeded ${ok}, errors ${JSON.stringify(errors)}, ops ${runs[0]!.ops}, peak RSS ${Math.max(...runs.map((s) => s.maxRssMB))} MB`);
});

test('the calls the fuzz found aborting libtorch 1.13 now throw one-line errors', async () => {
  const { thrown, memory } = await runChild<{ thrown: Record<string, string>; memory: { tensors: number } }>('fuzz_crashers.js', []);
  assert.equal(Object.keys(thrown).length, 10);
  for (const [name, what] of Object.entries(thrown)) {
    assert.match(what, /^(Error|TypeError|RangeError): [^\n]+$/, `${name}: ${what}`);
  }
  assert.equal(memory.tensors, 0);
});
