// What the CPU can do, as the kernels will use it: for choosing a compute dtype, and for naming
// the machine beside every figure measured on it.
import { readFileSync } from 'node:fs';
import { native } from './native.js';

/**
 * oneDNN's instruction sets (`dnnl_cpu_isa_t`, oneDNN 2.x). Each value is a bit mask of the
 * features it includes, so a set includes another when it contains all of its bits.
 */
const ONEDNN_ISAS: Record<number, string> = {
  0x1: 'sse41',
  0x3: 'avx',
  0x7: 'avx2',
  0x407: 'avx2_vnni',
  0x27: 'avx512_core',
  0x67: 'avx512_core_vnni',
  0xe7: 'avx512_core_bf16',
  0x3e7: 'avx512_core_amx',
};
/** The bit of native bfloat16 arithmetic: in avx512_core_bf16 and avx512_core_amx only. */
const ONEDNN_BF16_BIT = 0x80;
/** The bit of AVX-512 (F, BW, VL, DQ): oneDNN's bfloat16 kernels start there, emulated below BF16. */
const ONEDNN_AVX512_CORE_BIT = 0x20;

/** The CPU and the instruction sets libtorch's kernels run on, after any limit set in the environment. */
export interface CpuInfo {
  /** /proc/cpuinfo's model name ('unknown' where it cannot be read). */
  model: string;
  /** The instruction set oneDNN's convolutions use (DNNL_MAX_CPU_ISA lowers it); null if oneDNN cannot be asked. */
  onednnIsa: string | null;
  /** ATen's vectorized kernels: 'avx512', 'avx2' or 'default' (ATEN_CPU_CAPABILITY lowers it). */
  atenCapability: 'avx512' | 'avx2' | 'default';
  /** Whether bfloat16 runs natively (AVX512-BF16 or AMX) on the instruction set oneDNN uses. */
  nativeBf16: boolean;
  /**
   * Whether oneDNN has bfloat16 convolutions at all: natively, or emulated on AVX-512. Below that
   * (AVX2) a bfloat16 convolution fails in oneDNN or falls to a slow reference path.
   */
  bf16Kernels: boolean;
}

let cached: CpuInfo | undefined;

function procCpuinfo(): { model: string; flags: Set<string> } {
  try {
    const text = readFileSync('/proc/cpuinfo', 'utf8');
    const model = text.match(/^model name\s*:\s*(.*)$/m)?.[1]?.trim() ?? 'unknown';
    return { model, flags: new Set(text.match(/^flags\s*:(.*)$/m)?.[1]?.trim().split(/\s+/) ?? []) };
  } catch {
    return { model: 'unknown', flags: new Set() };
  }
}

// ATen picks the highest capability the CPU has, then lowers it to ATEN_CPU_CAPABILITY if that is
// lower (aten/src/ATen/native/DispatchStub.cpp, 1.13). Its avx512 kernels need F, BW, VL and DQ.
function atenCapability(flags: Set<string>): CpuInfo['atenCapability'] {
  const order = ['default', 'avx2', 'avx512'] as const;
  const avx512 = ['avx512f', 'avx512bw', 'avx512vl', 'avx512dq'].every((f) => flags.has(f));
  const cpu = avx512 ? 2 : flags.has('avx2') && flags.has('fma') ? 1 : 0;
  const asked = order.indexOf((process.env.ATEN_CPU_CAPABILITY ?? '').toLowerCase() as CpuInfo['atenCapability']);
  return order[asked >= 0 ? Math.min(asked, cpu) : cpu]!;
}

/**
 * The CPU libtorch runs on, and the instruction sets its kernels use there. oneDNN is asked
 * directly (dnnl_get_effective_cpu_isa), so a limit such as `DNNL_MAX_CPU_ISA=AVX512_CORE` shows.
 * Where oneDNN cannot be asked (a libtorch with a hidden static copy), nativeBf16 follows the CPU's flags.
 */
export function cpuInfo(): CpuInfo {
  if (cached === undefined) {
    const { model, flags } = procCpuinfo();
    const isa = native.onednnEffectiveIsa();
    const nativeBf16 = isa !== null ? (isa & ONEDNN_BF16_BIT) !== 0 : flags.has('amx_bf16') || flags.has('avx512_bf16');
    const bf16Kernels = isa !== null ? (isa & ONEDNN_AVX512_CORE_BIT) !== 0 : flags.has('avx512bw');
    const onednnIsa = isa === null ? null : (ONEDNN_ISAS[isa] ?? `0x${isa.toString(16)}`);
    cached = { model, onednnIsa, atenCapability: atenCapability(flags), nativeBf16, bf16Kernels };
  }
  return cached;
}

/**
 * Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX-BF16) on the instruction set
 * oneDNN uses, so that bfloat16 convolutions beat float32 ones (3–13× on AMX; docs/performance.md).
 * False where oneDNN is limited below that (DNNL_MAX_CPU_ISA), where it would emulate bfloat16.
 */
export function cpuHasNativeBf16(): boolean {
  return cpuInfo().nativeBf16;
}
