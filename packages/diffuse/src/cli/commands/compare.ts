// `diffuse compare runs/* --metric fid`: a table of one metric across training runs, best first,
// and the config keys on which the runs differ.
import { compareRuns, metricsOf, type Comparison } from '../../report/compare.js';
import { readRunFolder, withDistinctNames } from '../../report/run-folder.js';
import { UsageError } from '../args.js';
import type { Command } from '../main.js';

function fmt(v: number | null): string {
  if (v === null) return '—';
  const a = Math.abs(v);
  return a !== 0 && (a >= 1e5 || a < 1e-3) ? v.toExponential(3) : String(Number(v.toPrecision(5)));
}

/** The comparison as terminal lines: an aligned table, then the config differences. */
export function formatComparison(c: Comparison): string[] {
  const head = ['run', 'steps', `${c.metric} last`, `${c.metric} best`, 'best at step', 'mean of last 10 %'];
  const rows = c.runs.map((r) => [r.run, r.step === null ? '—' : String(r.step), fmt(r.last), fmt(r.best), r.bestStep === null ? '—' : String(r.bestStep), fmt(r.tailMean)]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((s, i) => (i === 0 ? s.padEnd(w[i]!) : s.padStart(w[i]!))).join('  ').trimEnd();
  const out = [line(head), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)];
  out.push('', `(${c.higherIsBetter ? 'higher' : 'lower'} is better; best first)`);
  if (c.runs.length > 1) {
    out.push('', c.configDiff.length === 0 ? 'config: the same for every run' : 'config differences:');
    const kw = Math.max(0, ...c.configDiff.map((d) => d.key.length));
    for (const d of c.configDiff) out.push(`  ${d.key.padEnd(kw)}  ${d.values.map((v, i) => `${c.names[i]}=${JSON.stringify(v)}`).join('  ')}`);
  }
  return out;
}

export const command: Command = {
  spec: {
    name: 'compare',
    summary: 'compare training runs on one metric (loss, fid, kid, …) and list their config differences',
    usage: 'diffuse compare OUT [OUT2 …] [--metric loss|fid|kid|…] [--json]',
    positionals: [{ name: 'OUT' }, { name: 'OUT2', optional: true, variadic: true }],
    flags: [
      { key: 'metric', type: 'string', help: 'a key of log.jsonl: loss, mse, vb, loss_q0…3, grad_norm, imgPerSec, fid, kid, precision, recall', defaultText: 'loss' },
      { key: 'json', type: 'bool', help: 'print the comparison as JSON' },
    ],
  },
  async run(args) {
    const runs = withDistinctNames(args.positionals.map(readRunFolder));
    const metric = (args.flags.metric as string | undefined) ?? 'loss';
    const known = [...new Set(runs.flatMap(metricsOf))].sort();
    if (!known.includes(metric)) throw new UsageError(`no run logged '${metric}'; logged: ${known.join(', ') || 'nothing yet'}`);
    const c = compareRuns(runs, metric);
    console.log(args.flags.json ? JSON.stringify(c, null, 2) : formatComparison(c).join('\n'));
    return 0;
  },
};
