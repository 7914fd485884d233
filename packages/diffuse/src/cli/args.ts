// A small typed flag parser: kebab-case flags, `--flag value` or `--flag=value`, a JSON
// `--config` file that flags override, range checks, and one-line errors for every mistake.
import { readFileSync } from 'node:fs';

/** A mistake the user made: printed as one line, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export type FlagType = 'int' | 'float' | 'string' | 'bool' | 'ints' | 'floats' | 'strings';

export interface FlagSpec {
  /** camelCase key in the parsed result; the flag is its kebab-case form. */
  key: string;
  type: FlagType;
  help: string;
  choices?: readonly string[];
  min?: number;
  max?: number;
  /** Shown in --help; the parser itself does not fill defaults (configs and presets do). */
  defaultText?: string;
  /** Short group title for --help. */
  group?: string;
}

export interface CommandSpec {
  name: string;
  summary: string;
  usage: string;
  flags: FlagSpec[];
  /** Names of positional arguments, for --help and count checks. */
  positionals?: { name: string; optional?: boolean; variadic?: boolean }[];
  /** Whether --config FILE is accepted. */
  config?: boolean;
}

export type FlagValue = number | string | boolean | number[] | string[];
export interface Parsed {
  flags: Record<string, FlagValue>;
  positionals: string[];
  help: boolean;
}

export function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}
function camel(flag: string): string {
  return flag.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length]![b.length]!;
}

function suggest(flag: string, spec: CommandSpec): string {
  let best = '';
  let bestD = Infinity;
  for (const f of spec.flags) {
    const k = kebab(f.key);
    const dist = editDistance(flag, k);
    if (dist < bestD) [best, bestD] = [k, dist];
  }
  return bestD <= Math.max(2, flag.length / 3) ? ` (did you mean --${best}?)` : '';
}

function parseNumber(raw: string, f: FlagSpec, integer: boolean, where: string): number {
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
    throw new UsageError(`${where}: expected ${integer ? 'an integer' : 'a number'}, got '${raw}'`);
  }
  if (f.min !== undefined && v < f.min) throw new UsageError(`${where}: must be at least ${f.min}, got ${v}`);
  if (f.max !== undefined && v > f.max) throw new UsageError(`${where}: must be at most ${f.max}, got ${v}`);
  return v;
}

/** Converts a raw string (from the command line) or a JSON value (from --config) by spec. */
export function convert(f: FlagSpec, raw: unknown, where: string): FlagValue {
  const asList = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : String(v).split(',').map((s) => s.trim()).filter((s) => s !== ''));
  switch (f.type) {
    case 'bool':
      if (typeof raw === 'boolean') return raw;
      if (raw === 'true' || raw === '1' || raw === 'yes') return true;
      if (raw === 'false' || raw === '0' || raw === 'no') return false;
      throw new UsageError(`${where}: expected true or false, got '${String(raw)}'`);
    case 'int':
    case 'float':
      return parseNumber(String(raw), f, f.type === 'int', where);
    case 'ints':
    case 'floats':
      return asList(raw).map((s) => parseNumber(s, f, f.type === 'ints', where));
    case 'strings':
      return asList(raw);
    case 'string': {
      const s = String(raw);
      if (f.choices && !f.choices.includes(s)) {
        throw new UsageError(`${where}: must be one of ${f.choices.join(', ')}; got '${s}'`);
      }
      return s;
    }
  }
}

/**
 * Parses argv (without the command name). Values from `--config FILE` come first; flags on the
 * command line override them. Throws UsageError with one line for every mistake.
 */
export function parseArgs(argv: string[], spec: CommandSpec): Parsed {
  const byFlag = new Map(spec.flags.map((f) => [kebab(f.key), f]));
  const fromCli: Record<string, FlagValue> = {};
  const positionals: string[] = [];
  let configPath: string | undefined;
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--help' || a === '-h') {
      help = true;
      continue;
    }
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith('--')) {
      if (a.startsWith('-') && a.length > 1 && Number.isNaN(Number(a))) throw new UsageError(`unknown option '${a}' for 'diffuse ${spec.name}' (see --help)`);
      positionals.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    let name = eq < 0 ? a.slice(2) : a.slice(2, eq);
    let inline = eq < 0 ? undefined : a.slice(eq + 1);
    if (name === 'config' && spec.config) {
      configPath = inline ?? argv[++i];
      if (configPath === undefined) throw new UsageError('--config needs a file path');
      continue;
    }
    let f = byFlag.get(name);
    if (f === undefined && name.startsWith('no-') && byFlag.get(name.slice(3))?.type === 'bool') {
      f = byFlag.get(name.slice(3));
      name = name.slice(3);
      inline = 'false';
    }
    if (f === undefined) throw new UsageError(`unknown flag --${name} for 'diffuse ${spec.name}'${suggest(name, spec)}`);
    let raw: string | undefined = inline;
    if (raw === undefined) {
      if (f.type === 'bool' && (argv[i + 1] === undefined || argv[i + 1]!.startsWith('--') || !['true', 'false', '1', '0', 'yes', 'no'].includes(argv[i + 1]!))) {
        raw = 'true';
      } else {
        raw = argv[++i];
        if (raw === undefined) throw new UsageError(`--${name} needs a value`);
      }
    }
    fromCli[f.key] = convert(f, raw, `--${name}`);
  }
  const flags: Record<string, FlagValue> = configPath === undefined ? {} : readConfig(configPath, spec);
  Object.assign(flags, fromCli);
  const required = (spec.positionals ?? []).filter((p) => !p.optional).length;
  // A variadic last positional (e.g. `diffuse board OUT [OUT2 …]`) takes any number of arguments.
  const allowed = spec.positionals?.[spec.positionals.length - 1]?.variadic ? Infinity : (spec.positionals ?? []).length;
  if (!help && positionals.length < required) {
    throw new UsageError(`'diffuse ${spec.name}' needs ${spec.positionals!.filter((p) => !p.optional).map((p) => p.name).join(' ')} (usage: ${spec.usage})`);
  }
  if (positionals.length > allowed) {
    throw new UsageError(`unexpected argument '${positionals[allowed]}' for 'diffuse ${spec.name}' (usage: ${spec.usage})`);
  }
  return { flags, positionals, help };
}

/** Reads a JSON config; keys may be camelCase or kebab-case flag names. */
export function readConfig(path: string, spec: CommandSpec): Record<string, FlagValue> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`${path}: cannot read the config file (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new UsageError(`${path}: the config must be a JSON object of flag values`);
  const byKey = new Map(spec.flags.map((f) => [f.key, f]));
  const out: Record<string, FlagValue> = {};
  for (const [k, v] of Object.entries(json)) {
    const f = byKey.get(camel(k));
    if (f === undefined) throw new UsageError(`${path}: unknown key '${k}' for 'diffuse ${spec.name}'${suggest(kebab(camel(k)), spec)}`);
    out[f.key] = convert(f, v, `${path}: ${k}`);
  }
  return out;
}

/** The --help text of a command. */
export function helpText(spec: CommandSpec): string {
  const lines = [`diffuse ${spec.name} — ${spec.summary}`, '', `usage: ${spec.usage}`, ''];
  let group: string | undefined;
  const width = 28;
  for (const f of spec.flags) {
    if (f.group !== group && f.group !== undefined) {
      lines.push('', `${f.group}:`);
      group = f.group;
    }
    const name = `--${kebab(f.key)}${f.type === 'bool' ? '' : ' ' + placeholder(f)}`;
    const extra = [f.choices ? `one of ${f.choices.join('|')}` : '', f.defaultText !== undefined ? `default ${f.defaultText}` : ''].filter(Boolean).join('; ');
    const text = `${f.help}${extra ? ` (${extra})` : ''}`;
    // A long flag gets its help on the next line rather than running into it.
    if (name.length >= width - 1) lines.push(`  ${name}`, `  ${''.padEnd(width)}${text}`);
    else lines.push(`  ${name.padEnd(width)}${text}`);
  }
  if (spec.config) lines.push('', `  ${'--config FILE'.padEnd(width)}JSON object of flag values (camelCase or kebab-case keys); flags override it`);
  lines.push(`  ${'--help'.padEnd(width)}show this help`);
  return lines.join('\n');
}

function placeholder(f: FlagSpec): string {
  switch (f.type) {
    case 'int': return 'N';
    case 'float': return 'X';
    case 'ints': return 'N,N,…';
    case 'floats': return 'X,X,…';
    case 'strings': return 'A,B,…';
    default: return f.choices ? f.choices.join('|') : 'S';
  }
}
