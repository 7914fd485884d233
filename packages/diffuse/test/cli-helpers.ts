// Shared helpers for the tests that run the real `diffuse` command: spawn it, wait on what it
// writes, read its log, and check the one-line, exit-code-2 answer every user mistake gets.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import type { LogRow } from '../src/train/trainer.js';

/** The `diffuse` executable (tests run from dist/test). */
export const BIN = fileURLToPath(new URL('../../bin/diffuse.js', import.meta.url));

/** Flags for the smallest model that trains in well under a second a step. */
export const TINY_MODEL = ['--image-size', '8', '--channel-mult', '1,2', '--model-channels', '8', '--num-res-blocks', '1', '--attention-ds', ''];

/** The environment every test run of `diffuse` gets: one thread, so runs are reproducible. */
const ENV = { ...process.env, DIFFUSE_THREADS: '1' };

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
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: ENV, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Starts `diffuse ...args` on one thread in the background, its output discarded.
 * @param args the command and its flags.
 * @returns the running child (kill it, or await its 'exit').
 */
export function spawnDiffuse(...args: string[]): ChildProcess {
  return spawn(process.execPath, [BIN, ...args], { env: ENV, stdio: 'ignore' });
}

/**
 * Polls every 10 ms until `ready()` holds.
 * @param ready the condition (a look at the disk, say).
 * @param what what is awaited, for the timeout's message.
 * @param timeoutMs how long to wait before failing.
 */
export async function waitUntil(ready: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const start = Date.now();
  while (!ready()) {
    if (Date.now() - start > timeoutMs) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Reads the training rows of OUT/log.jsonl (evaluation rows left out).
 * @param out the training output folder.
 * @returns the rows in file order.
 */
export function readTrainLog(out: string): LogRow[] {
  const lines = readFileSync(path.join(out, 'log.jsonl'), 'utf8').split('\n').filter((l) => l !== '');
  return lines.map((l) => JSON.parse(l) as LogRow & { eval?: boolean }).filter((r) => r.eval !== true);
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

/**
 * Reads a file of a training checkpoint.
 * @param out the training output folder.
 * @param step the checkpoint's step.
 * @param file the file in the checkpoint directory (default its model weights).
 */
export function checkpointFile(out: string, step: number, file = 'model.safetensors'): Buffer {
  return readFileSync(path.join(out, 'checkpoints', `step-${String(step).padStart(7, '0')}`, file));
}

/**
 * Asserts that `diffuse train ...args` stopped after 2 steps and resumed to 4 gives the weights of
 * 4 straight steps byte for byte (and that the steps moved the weights).
 * @param args the training flags (without --steps and --out).
 * @param straight the output folder of the straight run.
 * @param split the output folder of the stopped and resumed run.
 * @returns the last command's result.
 */
export function assertResumeBitExact(args: string[], straight: string, split: string): CliResult {
  const whole = diffuse('train', ...args, '--steps', '4', '--out', straight);
  assert.equal(whole.code, 0, whole.stderr);
  const first = diffuse('train', ...args, '--steps', '2', '--out', split);
  assert.equal(first.code, 0, first.stderr);
  const resumed = diffuse('train', '--resume', '--steps', '4', '--out', split);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.ok(checkpointFile(straight, 4).equals(checkpointFile(split, 4)), 'model weights differ');
  assert.ok(!checkpointFile(split, 2).equals(checkpointFile(split, 4)), 'training moved the weights');
  return whole;
}

/** Flags for the smallest autoencoder: 8×8 digits → 2×4×4 latents (f = 2), a few steps a second. */
export const TINY_AE = ['--image-size', '8', '--base-channels', '4', '--channel-mult', '1,2', '--z-channels', '2', '--batch-size', '8', '--limit', '64', '--log-interval', '1', '--warmup-steps', '0'];
