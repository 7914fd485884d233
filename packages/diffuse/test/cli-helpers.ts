// Shared helpers for the tests that run the real `diffuse` command: spawn it, and check the
// one-line, exit-code-2 answer every user mistake gets.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The `diffuse` executable (tests run from dist/test). */
export const BIN = fileURLToPath(new URL('../../bin/diffuse.js', import.meta.url));

/** Flags for the smallest model that trains in well under a second a step. */
export const TINY_MODEL = ['--image-size', '8', '--channel-mult', '1,2', '--model-channels', '8', '--num-res-blocks', '1', '--attention-ds', ''];

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `diffuse ...args` to the end on one thread.
 * @param args the command and its flags.
 * @returns the exit code and the output.
 */
export function diffuse(...args: string[]): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, DIFFUSE_THREADS: '1' }, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Asserts a user error: exit code 2 and exactly one stderr line, `diffuse: ...`, that matches
 * `re`, with no stack trace.
 * @param r the command's result.
 * @param re what the line must say.
 */
export function assertUserError(r: CliResult, re: RegExp): void {
  assert.equal(r.code, 2, `exit code (stderr: ${r.stderr})`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line, got:\n${r.stderr}`);
  assert.match(lines[0]!, /^diffuse: /);
  assert.match(lines[0]!, re);
  assert.doesNotMatch(r.stderr, /\s+at .+\(.*:\d+:\d+\)/, 'no stack trace');
}
