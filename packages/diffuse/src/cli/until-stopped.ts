// Waiting for Ctrl-C or SIGTERM in the commands that serve until stopped (board, serve).

/** Resolves at the first SIGINT or SIGTERM (the handlers are removed again). */
export function untilStopped(): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
