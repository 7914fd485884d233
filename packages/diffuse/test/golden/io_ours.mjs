// Step 1 of the npz golden: our writer's files, which io_npz.py then checks with numpy.
// The arrays come from test/io-golden-arrays.ts (compiled).
// Run from this folder after `npx tsc -b`:  node io_ours.mjs && /usr/bin/python3 io_npz.py
import { writeFileSync } from 'node:fs';
import { encodeNpz } from '../../dist/src/io/npz.js';
import { goldenArrays } from '../../dist/test/io-golden-arrays.js';

const arrays = goldenArrays();
writeFileSync('io_ours.npz', Buffer.concat(encodeNpz(arrays)));
writeFileSync('io_ours_compressed.npz', Buffer.concat(encodeNpz(arrays, true)));
console.log('wrote io_ours.npz, io_ours_compressed.npz');
