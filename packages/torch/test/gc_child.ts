// Run by memory.test.ts as `node --expose-gc gc_child.js`: creates tensors it never disposes,
// drops them, lets the GC and the event loop run, and prints the live counts as JSON.
import * as torch from '../src/index.js';

declare const gc: (() => void) | undefined;

async function main(): Promise<void> {
  if (typeof gc !== 'function') throw new Error('run with --expose-gc');
  const before = torch.memory();
  for (let i = 0; i < 100; i++) torch.zeros([256, 1024]); // 1 MiB each, forgotten
  const created = torch.memory();
  // Finalizers run when the event loop turns, after a GC found the handles unreachable.
  for (let i = 0; i < 10 && torch.memory().tensors > before.tensors; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  process.stdout.write(JSON.stringify({ before, created, after: torch.memory() }) + '\n');
}

await main();
