// CLI parsing and config merging: kebab-case flags, --config JSON overridden by flags, presets
// under both, and one-line UsageErrors for every mistake.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { parseArgs, UsageError, type CommandSpec } from '../src/cli/args.js';
import { command as train } from '../src/cli/commands/train.js';
import { CONFIG_FLAGS, flagsToConfig } from '../src/cli/train-flags.js';
import { defaultConfig, resolveConfig } from '../src/train/config.js';

const spec: CommandSpec = train.spec;

function configFile(obj: unknown): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'diffuse-cli-'));
  const p = path.join(dir, 'config.json');
  writeFileSync(p, typeof obj === 'string' ? obj : JSON.stringify(obj));
  return p;
}

test('flags parse by type: ints, floats, lists, booleans, choices', () => {
  const a = parseArgs(
    ['--data', 'mnist', '--out=runs/x', '--steps', '200', '--lr', '3e-4', '--channel-mult', '1,2,2', '--ema-rates=0.999,0.9999', '--class-cond', '--no-use-scale-shift-norm', '--noise-schedule', 'linear'],
    spec,
  );
  assert.deepEqual(a.flags, {
    data: 'mnist', out: 'runs/x', steps: 200, lr: 3e-4, channelMult: [1, 2, 2], emaRates: [0.999, 0.9999], classCond: true, useScaleShiftNorm: false, noiseSchedule: 'linear',
  });
  const cfg = flagsToConfig(a.flags);
  assert.deepEqual(cfg.model, { channelMult: [1, 2, 2], useScaleShiftNorm: false });
  assert.deepEqual(cfg.optim, { lr: 3e-4, emaRates: [0.999, 0.9999] });
  assert.equal(cfg.run?.steps, 200);
});

test('every config flag maps to a field of the default config', () => {
  const d = defaultConfig() as unknown as Record<string, Record<string, unknown>>;
  // Fields whose absence means something (an image model, not a clip one; no buckets) have no default.
  const optional = new Set(['model.frames', 'model.temporalPatch', 'run.clipDigits', 'run.buckets']);
  for (const f of CONFIG_FLAGS) {
    const name = `${f.section}.${f.configKey ?? f.key}`;
    assert.ok((f.configKey ?? f.key) in d[f.section]! || optional.has(name), name);
  }
});

test('--config JSON is overridden by flags; presets sit under both', () => {
  const file = configFile({ 'model-channels': 64, lr: 0.001, steps: 50, noiseSchedule: 'linear' });
  const a = parseArgs(['--config', file, '--lr', '0.0005', '--preset', 'ref-28'], spec);
  assert.equal(a.flags.modelChannels, 64);
  assert.equal(a.flags.lr, 0.0005);
  const cfg = resolveConfig(a.flags.preset as string, flagsToConfig(a.flags));
  assert.equal(cfg.model.modelChannels, 64); // config file beats the preset
  assert.equal(cfg.optim.lr, 0.0005); // the flag beats the config file
  assert.equal(cfg.diffusion.noiseSchedule, 'linear');
  assert.equal(cfg.model.numResBlocks, 2); // from ref-28
  assert.deepEqual(cfg.model.attentionDs, [2]);
});

test('mistakes are one-line UsageErrors that say what to do', () => {
  const cases: [string[], RegExp][] = [
    [['--lr', 'fast'], /--lr: expected a number, got 'fast'/],
    [['--steps', '1.5'], /--steps: expected an integer/],
    [['--steps', '-3'], /--steps: must be at least 0/],
    [['--dropout', '2'], /--dropout: must be at most 1/],
    [['--noise-schedule', 'cosinus'], /must be one of linear, cosine, quadratic, sigmoid; got 'cosinus'/],
    [['--learning-rate', '1'], /unknown flag --learning-rate/],
    [['--batchsize', '3'], /did you mean --batch-size\?/],
    [['--steps'], /--steps needs a value/],
    [['stray'], /unexpected argument 'stray'/],
    [['--config', '/no/such/file.json'], /cannot read the config file/],
    [['--config', configFile('{ not json')], /not valid JSON/],
    [['--config', configFile({ stepz: 3 })], /unknown key 'stepz'/],
    [['--config', configFile({ lr: 'x' })], /lr: expected a number/],
  ];
  for (const [argv, re] of cases) {
    assert.throws(() => parseArgs(argv, spec), (e: unknown) => e instanceof UsageError && re.test(e.message) && !e.message.includes('\n'), argv.join(' '));
  }
});

test('config validation rejects impossible models', () => {
  assert.throws(() => resolveConfig(undefined, { model: { imageSize: 30, channelMult: [1, 2, 2] } }), /not divisible by 4/);
  assert.throws(() => resolveConfig('nope'), /unknown preset 'nope'/);
  assert.throws(() => resolveConfig(undefined, { optim: { emaRates: [1.5] } }), /EMA rates/);
  assert.throws(() => resolveConfig(undefined, { optim: { classDropout: 0.1 } }), /class-conditional/);
});
