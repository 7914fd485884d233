// What the CPU can do natively, for choosing a compute dtype.
import { readFileSync } from 'node:fs';

let cached: boolean | undefined;

/**
 * Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX-BF16), so that oneDNN's
 * bfloat16 convolutions beat float32 ones (3–13× on AMX; docs/performance.md). Reads
 * /proc/cpuinfo (Linux); false elsewhere or when unreadable.
 */
export function cpuHasNativeBf16(): boolean {
  if (cached === undefined) {
    try {
      const flags = readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m)?.[1]?.split(/\s+/) ?? [];
      cached = flags.includes('amx_bf16') || flags.includes('avx512_bf16');
    } catch {
      cached = false;
    }
  }
  return cached;
}
