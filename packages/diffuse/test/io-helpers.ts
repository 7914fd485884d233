// Shared helpers for the data and io tests: temp folders, golden paths, one-line error checks.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp, { type Sharp } from 'sharp';
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

/**
 * A solid-colour image's pixels.
 * @param width the width.
 * @param height the height.
 * @param pixel one pixel's channel values (1 to 4 of them).
 * @returns width·height copies of `pixel`, HWC.
 */
export function solid(width: number, height: number, pixel: number[]): Uint8Array {
  const d = new Uint8Array(width * height * pixel.length);
  for (let i = 0; i < width * height; i++) d.set(pixel, i * pixel.length);
  return d;
}

/**
 * A sharp pipeline over raw HWC pixels, to write image files of any format for fixtures.
 * @param data the pixels.
 * @param width the width.
 * @param height the height.
 * @param channels 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA).
 */
export function rawImage(data: number[] | Uint8Array, width: number, height: number, channels: 1 | 2 | 3 | 4): Sharp {
  return sharp(Buffer.from(data), { raw: { width, height, channels } });
}
