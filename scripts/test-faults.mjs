#!/usr/bin/env node
// `npm run test:faults`: the fault tests too slow for `npm test`, one child process each, then a
// last line `N passed, N failed` (exit 1 when any failed). Add a slow fault test by adding an entry
// to TASKS.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Each task: a name and the command that exits 0 when it passes. */
const TASKS = [
  {
    name: 'soak: 10,000 training steps and 10,000 sampled images, flat RSS and live tensors',
    argv: ['packages/diffuse/scripts/soak.mjs', ...process.argv.slice(2)],
  },
];

let passed = 0;
let failed = 0;
for (const task of TASKS) {
  const t0 = performance.now();
  console.log(`# ${task.name}`);
  const r = spawnSync(process.execPath, task.argv, { cwd: root, stdio: 'inherit' });
  const seconds = ((performance.now() - t0) / 1000).toFixed(0);
  if (r.status === 0) {
    passed++;
    console.log(`ok - ${task.name} (${seconds} s)`);
  } else {
    failed++;
    console.log(`not ok - ${task.name} (${r.signal ? `killed by ${r.signal}` : `exit ${r.status}`}, ${seconds} s)`);
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed === 0 ? 0 : 1;
