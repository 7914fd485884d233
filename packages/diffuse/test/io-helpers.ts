// Shared helpers for the data and io tests: temp folders, golden paths, one-line error checks.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DataError } from '../src/io/errors.js';

/** Absolute path of a file in test/golden (tests run from dist/test). */
export function golden(name: string): string {
  return fileURLToPath(new URL(`../../test/golden/${name}`, import.meta.url));
}

/** A fresh temp folder, removed by the returned cleanup. */
export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `diffuse-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Asserts that `fn` throws (or rejects with) a one-line DataError whose message matches.
 * @param fn the code under test.
 * @param pattern what the message must contain.
 */
export async function assertDataError(fn: () => unknown, pattern: RegExp): Promise<DataError> {
  let caught: unknown;
  try {
    await fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof DataError, `expected a DataError, got ${String(caught)}`);
  assert.ok(!caught.message.includes('\n'), `message is not one line: ${JSON.stringify(caught.message)}`);
  assert.match(caught.message, pattern);
  return caught;
}
