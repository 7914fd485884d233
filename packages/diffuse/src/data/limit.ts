// A concurrency limit for async work, so a deep prefetch never decodes hundreds of images at once.

/**
 * Makes a runner that lets at most `concurrency` tasks run at a time; the rest wait in order.
 * @param concurrency the most tasks in flight (at least 1).
 * @returns run(task): the task's result, once it has had its turn.
 */
export function limiter(concurrency: number): <T>(task: () => Promise<T>) => Promise<T> {
  const max = Math.max(1, Math.floor(concurrency));
  let active = 0;
  const waiting: (() => void)[] = [];
  const release = (): void => {
    active--;
    waiting.shift()?.();
  };
  return async <T>(task: () => Promise<T>): Promise<T> => {
    if (active >= max) await new Promise<void>((resolve) => waiting.push(resolve));
    active++;
    try {
      return await task();
    } finally {
      release();
    }
  };
}
