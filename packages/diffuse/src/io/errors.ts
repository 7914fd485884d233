// The one error type for bad input data: a one-line message that names the file and the fix.

/**
 * Bad input data (a corrupt image, an empty folder, an npz of the wrong dtype or shape).
 * The message is one line that names the file and what to do; a CLI prints it and exits 2.
 */
export class DataError extends Error {
  /** The file or folder at fault, when there is one. */
  readonly path: string | undefined;

  /**
   * @param message one line: what is wrong and what to do about it.
   * @param path the file or folder at fault.
   */
  constructor(message: string, path?: string) {
    super(message.replace(/\s*\n\s*/g, '; '));
    this.name = 'DataError';
    this.path = path;
  }
}

/** The first line of an error's message (library errors can span many lines). */
export function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0]!.trim();
}

/** True for the errors a full disk or an exhausted quota gives (ENOSPC, EDQUOT). */
export function isDiskFull(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/**
 * A write that ran out of disk space. The message is one line that names what could not be
 * written, what is still intact and what to do; a CLI prints it as is.
 */
export class DiskFullError extends Error {
  /** ENOSPC or EDQUOT, as the underlying error had it. */
  readonly code: string;

  /**
   * @param message one line: what could not be written and what to do.
   * @param cause the file system error.
   */
  constructor(message: string, cause: unknown) {
    super(message, { cause });
    this.name = 'DiskFullError';
    this.code = (cause as NodeJS.ErrnoException).code ?? 'ENOSPC';
  }
}
