// Writes that never leave a half-written file: temp file in the same folder, fsync, rename.
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';

function tempName(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

// fsync the folder so the rename itself survives a crash; some file systems refuse, which is fine.
export function syncDirSync(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // best effort
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Writes `data` to `path` atomically: readers see the old file or the whole new one, never a part.
 * @param path the destination file (its folder must exist).
 * @param data the bytes (or UTF-8 text) to write; an array of chunks is written in order.
 */
export function writeFileAtomicSync(path: string, data: Uint8Array | string | Uint8Array[]): void {
  const tmp = tempName(path);
  const chunks = Array.isArray(data) ? data : [typeof data === 'string' ? Buffer.from(data, 'utf8') : data];
  const fd = openSync(tmp, 'w', 0o644);
  try {
    for (const chunk of chunks) {
      let off = 0;
      while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
    }
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  syncDirSync(dirname(path));
}

/**
 * Async twin of writeFileAtomicSync.
 * @param path the destination file (its folder must exist).
 * @param data the bytes (or UTF-8 text) to write; an array of chunks is written in order.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string | Uint8Array[]): Promise<void> {
  const tmp = tempName(path);
  const chunks = Array.isArray(data) ? data : [typeof data === 'string' ? Buffer.from(data, 'utf8') : data];
  const fh = await open(tmp, 'w', 0o644);
  try {
    for (const chunk of chunks) {
      let off = 0;
      while (off < chunk.length) off += (await fh.write(chunk, off, chunk.length - off)).bytesWritten;
    }
    await fh.sync();
    await fh.close();
    await rename(tmp, path);
  } catch (err) {
    await fh.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw err;
  }
  syncDirSync(dirname(path));
}

/**
 * Writes a whole output folder, all or nothing: fill() writes into a temporary sibling folder,
 * which then replaces `out` (an earlier one is removed); on failure the temporary folder goes.
 * @param out the folder; @param fill writes the contents into the folder it is given.
 */
export async function writeFolderAtomic(out: string, fill: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = `${out.replace(/\/+$/, '')}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    await fill(tmp);
    if (existsSync(out)) rmSync(out, { recursive: true, force: true });
    mkdirSync(dirname(resolve(out)), { recursive: true });
    renameSync(tmp, out);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}
