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
