// Run by fuzz.test.ts as `node fuzz_child.js <seed> <calls> [skip,ops]`: makes that many random
// calls into the native layer and prints one JSON summary line. Before each call it writes the
// call's description to stdout with a synchronous write, so when libtorch aborts the process the
// parent can name the op and arguments that did it (the last `call` line).
import { writeSync } from 'node:fs';

import * as torch from '../src/index.js';
import type { Tensor } from '../src/index.js';
import { argFor, parseSchema, Rng, type SchemaArg } from './fuzz_gen.js';
import { OP_NAMES, TYPED } from './fuzz_ops.js';

interface Overload {
  qualified: string;
  base: string;
  args: SchemaArg[];
}

/** One-line text for a value, so a crash report says what was passed. */
function describe(v: unknown, depth = 0): string {
  if (v instanceof torch.Tensor) return v.isDisposed ? 'Tensor<disposed>' : `Tensor${JSON.stringify(v.shape)}:${v.dtype}`;
  if (Array.isArray(v)) return depth > 2 ? '[...]' : `[${v.map((x) => describe(x, depth + 1)).join(', ')}]`;
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'number') return Object.is(v, -0) ? '-0' : String(v);
  if (typeof v === 'string') return JSON.stringify(v);
  if (v instanceof torch.Generator) return 'Generator';
  if (typeof v === 'object' && v !== null) return v.constructor?.name ?? 'object';
  return String(v);
}

/** The overloads of every fuzzed op, from the registry's schemas. */
function overloads(skip: Set<string>): Overload[] {
  const wanted = new Set(OP_NAMES.filter((n) => !skip.has(n)).map((n) => `aten::${n}`));
  const out: Overload[] = [];
  for (const s of torch.listOps()) {
    const { name, args } = parseSchema(s);
    const base = name.split('.')[0]!;
    if (wanted.has(base)) out.push({ qualified: name, base, args });
  }
  return out;
}

/** Positional and named arguments for one overload: mostly fitting, sometimes wrong. */
function argsFor(r: Rng, o: Overload): { pos: unknown[]; named?: Record<string, unknown> } {
  let self: Tensor | null = null;
  const pos: unknown[] = [];
  for (const a of o.args) {
    const v = argFor(r, a.type, self, r.chance(0.03));
    if (self === null && v instanceof torch.Tensor && !v.isDisposed) self = v;
    pos.push(v);
  }
  // Leave defaulted trailing arguments out (the schema fills them), as users do.
  while (pos.length > 0 && o.args[pos.length - 1]!.hasDefault && r.chance(0.5)) pos.pop();
  const u = r.next();
  if (u < 0.03) pos.pop(); // a required argument missing
  else if (u < 0.06) pos.push(1, 'extra'); // too many
  if (r.chance(0.1) && pos.length > 1) {
    // the last argument by name instead (sometimes a name the schema does not have)
    const i = pos.length - 1;
    const name = r.chance(0.8) ? o.args[i]?.name ?? 'nope' : 'no_such_arg';
    return { pos: pos.slice(0, i), named: { [name]: pos[i] } };
  }
  return { pos };
}

/** What a fuzz run reports (its last stdout line, after `result `). */
export interface Summary {
  calls: number;
  ok: number;
  errors: Record<string, number>;
  /** Failures that broke the contract: a non-Error thrown, or a message that is not one line. */
  violations: string[];
  before: { tensors: number; bytes: number };
  after: { tensors: number; bytes: number };
  maxRssMB: number;
  ops: number;
}

function check(e: unknown, what: string, s: Summary): void {
  if (!(e instanceof Error)) {
    s.violations.push(`${what}: threw a non-Error ${describe(e)}`);
    return;
  }
  const kind = e.constructor.name;
  s.errors[kind] = (s.errors[kind] ?? 0) + 1;
  const m = e.message;
  if (!['Error', 'TypeError', 'RangeError'].includes(kind)) s.violations.push(`${what}: ${kind}: ${m}`);
  else if (m.trim() === '' || m.includes('\n') || /Exception raised from|frame #\d/.test(m)) {
    s.violations.push(`${what}: ${kind} message is not one line: ${JSON.stringify(m.slice(0, 300))}`);
  }
}

function main(): void {
  const [seedArg, callsArg, skipArg] = process.argv.slice(2);
  const r = new Rng(Number(seedArg ?? 1));
  const calls = Number(callsArg ?? 3000);
  const skip = new Set((skipArg ?? '').split(',').filter((x) => x !== ''));
  torch.setNumThreads(1);
  torch.manualSeed(Number(seedArg ?? 1));
  const table = overloads(skip);
  const typed = TYPED.filter((t) => !skip.has(t.name));
  const mem = (): { tensors: number; bytes: number } => {
    const m = torch.memory();
    return { tensors: m.tensors, bytes: m.bytes };
  };
  const s: Summary = { calls, ok: 0, errors: {}, violations: [], before: mem(), after: mem(), maxRssMB: 0, ops: new Set(table.map((o) => o.base)).size };
  for (let i = 0; i < calls; i++) {
    const mode = r.int(0, 2);
    let what = '';
    try {
      torch.tidy(() => {
        if (mode === 0) {
          const t = r.pick(typed);
          what = `typed ${t.name} (seed ${seedArg}, call ${i})`;
          writeSync(1, `call ${what}\n`);
          t.run(r);
          return;
        }
        const o = r.pick(table);
        const { pos, named } = argsFor(r, o);
        const args = `(${pos.map((a) => describe(a)).join(', ')}${named ? `, ${describe(Object.keys(named))}=${describe(Object.values(named)[0])}` : ''})`;
        what = mode === 1 ? `call('${o.qualified}', ${args})` : `callByName('${o.base}', ${args})`;
        writeSync(1, `call ${what}\n`);
        if (mode === 1) torch.call(o.qualified, pos, named);
        else torch.callByName(o.base, pos, named);
      });
      s.ok++;
    } catch (e) {
      check(e, what, s);
    }
  }
  // The engine still works after all that.
  torch.tidy(() => {
    if (torch.ones([2, 2]).add(1).sum().item() !== 8) s.violations.push('engine broken after the fuzz');
  });
  s.after = mem();
  s.maxRssMB = Math.round(process.resourceUsage().maxRSS / 1024);
  writeSync(1, `result ${JSON.stringify(s)}\n`);
}

main();
