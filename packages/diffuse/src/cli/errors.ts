// Which errors are the user's to fix (one line, exit 2) and how to print them.
import { DataError, DiskFullError, isDiskFull } from '../io/errors.js';
import { ImportError } from '../import/improved-diffusion.js';
import { PrecisionError } from '../models/precision.js';
import { BoardError } from '../report/board-server.js';
import { RunFolderError } from '../report/run-folder.js';
import { CheckpointError } from '../train/checkpoint.js';
import { ModelConfigError } from '../train/factory.js';
import { TrainingError } from '../train/trainer.js';
import { UsageError } from './args.js';

export function isUserError(e: unknown): e is Error {
  return (
    e instanceof UsageError ||
    e instanceof DataError ||
    e instanceof CheckpointError ||
    e instanceof TrainingError ||
    e instanceof ModelConfigError ||
    e instanceof PrecisionError ||
    e instanceof DiskFullError ||
    e instanceof RunFolderError ||
    e instanceof BoardError ||
    e instanceof ImportError ||
    // File system errors on paths the user named (missing input, no permission, disk full).
    (e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string' && ['ENOENT', 'EACCES', 'ENOSPC', 'EISDIR', 'ENOTDIR', 'EROFS', 'EDQUOT'].includes((e as NodeJS.ErrnoException).code!))
  );
}

export function userMessage(e: Error): string {
  const first = e.message.split('\n')[0] ?? '';
  if (e instanceof DiskFullError) return first; // already says what is intact and what to do
  if (isDiskFull(e)) return `${first} — the disk is full; free space and retry (earlier checkpoints are intact)`;
  return first;
}

/** Marks a RangeError from config validation as the user's mistake. */
export function userRangeError(e: unknown): never {
  if (e instanceof RangeError) throw new UsageError(e.message);
  throw e;
}
