// The --lora flag of the sampling commands and `diffuse lora merge`: PATH[:SCALE], comma-separated.
import type { LoraSpec } from '../adapters/apply.js';
import { UsageError, type FlagSpec } from './args.js';

export const LORA_FLAG: FlagSpec = {
  key: 'lora',
  type: 'strings',
  help: "LoRA adapters to apply: a fine-tune's output folder or its lora.safetensors, each with an optional :SCALE (default 1), comma-separated",
};

/**
 * Parses 'runs/a:0.5,runs/b' into specs.
 * @throws UsageError for an empty path or a scale that is not a finite number.
 */
export function parseLoraSpecs(values: readonly string[]): LoraSpec[] {
  return values.map((v) => {
    const m = /^(.*):([^:/\\]*)$/.exec(v);
    // 'C:\…' style paths aside, a trailing ':x' is a scale.
    const [p, s] = m !== null && m[1] !== '' ? [m[1]!, m[2]!] : [v, undefined];
    const scale = s === undefined ? 1 : Number(s);
    if (s !== undefined && (s.trim() === '' || !Number.isFinite(scale))) throw new UsageError(`--lora ${v}: the scale after ':' must be a number, got '${s}'`);
    if (p === '') throw new UsageError(`--lora ${v}: no path`);
    return { path: p, scale };
  });
}
