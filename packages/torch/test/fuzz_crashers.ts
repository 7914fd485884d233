// Run by fuzz.test.ts: the calls the fuzz found aborting the process in libtorch 1.13 (before the
// native layer checked them), each of which must now throw a one-line JS Error. Writes a `call`
// line before each (so a crash names it) and a `result` line with what each threw.
import { writeSync } from 'node:fs';

import * as torch from '../src/index.js';
import type { Tensor } from '../src/index.js';

const long = (v: number[]): Tensor => torch.tensor(v, { dtype: 'int64' });
const z = (shape: number[], dtype: torch.DType = 'float32'): Tensor => torch.zeros(shape, { dtype });

/** name -> the call; every one of these took the process down (signal in the name). */
const CRASHERS: Record<string, () => unknown> = {
  'max_unpool2d output_size [] (SIGSEGV)': () => torch.call('aten::max_unpool2d', [z([]), z([], 'int64'), []]),
  'max_unpool2d output_size [] on 4-D (SIGSEGV)': () => torch.call('aten::max_unpool2d', [z([3, 1, 0, 0], 'uint8'), z([1, 1, 0, 1], 'int32'), []]),
  'reflection_pad1d padding [] (SIGSEGV)': () => torch.callByName('aten::reflection_pad1d', [z([5, 5, 5], 'int16'), []]),
  'view.dtype with dtype code 99 (SIGFPE)': () => torch.call('aten::view.dtype', [z([3], 'int64'), 99]),
  'callByName view with 99 (SIGFPE)': () => torch.callByName('aten::view', [z([1, 1, 1, 0], 'int64'), 99]),
  'native_batch_norm on [0, 0, 0, 0] (SIGFPE)': () =>
    torch.call('aten::native_batch_norm', [z([0, 0, 0, 0], 'bfloat16'), z([0, 0, 0, 0], 'bfloat16'), z([0, 0, 0, 0], 'float64'), z([0, 0, 0, 0], 'bfloat16'), z([2, 5], 'bfloat16'), false, 0.5, 5e-324]),
  'embedding_bag with mode 4 (SIGSEGV)': () => torch.call('aten::embedding_bag', [torch.ones([5, 3]), long([0, 1]), long([0]), false, 4]),
  'embedding_bag with 4-D offsets (SIGSEGV)': () => torch.call('aten::embedding_bag', [torch.ones([5, 3]), long([0, 1]), z([5, 1, 0, 0], 'int32'), false, 0]),
  'native_batch_norm on [0, 3], training (SIGFPE)': () => torch.call('aten::native_batch_norm', [z([0, 3]), null, null, null, null, true, 0.1, 1e-5]),
  'embedding_bag with mode 4 and 4-D offsets (SIGSEGV)': () =>
    torch.call('aten::embedding_bag.padding_idx', [z([2], 'float64'), z([2], 'int32'), z([5, 1, 0, 0], 'int32'), true, 4, false, z([1, 2, 3, 2], 'int32'), false, 0]),
};

function main(): void {
  const thrown: Record<string, string> = {};
  for (const [name, run] of Object.entries(CRASHERS)) {
    writeSync(1, `call ${name}\n`);
    try {
      torch.tidy(run);
      thrown[name] = 'nothing';
    } catch (e) {
      thrown[name] = e instanceof Error ? `${e.constructor.name}: ${e.message}` : `non-Error ${String(e)}`;
    }
  }
  writeSync(1, `result ${JSON.stringify({ thrown, memory: torch.memory() })}\n`);
}

main();
