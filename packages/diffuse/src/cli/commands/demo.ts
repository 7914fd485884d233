// `diffuse demo`: the README's main command. Trains the digits-cpu preset on the bundled digits
// for a few minutes, samples a grid with a 50-step sampler, and says where everything is.
import path from 'node:path';

import { resolveConfig } from '../../train/config.js';
import { UsageError } from '../args.js';
import { applyMachineFlags, THREADS_FLAG } from '../common-flags.js';
import type { Command } from '../main.js';
import { runTraining, SIGNAL_EXIT } from '../run-training.js';
import { command as sample } from './sample.js';

export const command: Command = {
  spec: {
    name: 'demo',
    summary: 'train a small model on the bundled digits for a few minutes, then sample a grid',
    usage: 'diffuse demo [--out DIR] [--minutes M]',
    flags: [
      { key: 'out', type: 'string', help: 'output folder', defaultText: 'diffuse-demo' },
      { key: 'minutes', type: 'float', min: 0.1, max: 600, help: 'training budget in minutes', defaultText: 'the preset’s' },
      { key: 'seed', type: 'int', min: 0, help: 'random seed', defaultText: '0' },
      THREADS_FLAG,
    ],
  },
  async run(args) {
    const f = args.flags;
    applyMachineFlags(f);
    const out = (f.out as string | undefined) ?? 'diffuse-demo';
    const config = resolveConfig('digits-cpu', {
      run: { data: 'mnist', minutes: f.minutes as number | undefined, seed: f.seed as number | undefined, steps: 1_000_000 },
    });
    console.log(`diffuse demo: training the digits-cpu preset on the bundled MNIST digits for ${config.run.minutes} min, then sampling 64 digits`);
    let r;
    try {
      r = await runTraining({ config, out, label: 'demo' });
    } catch (e) {
      if (e instanceof UsageError && /already holds a training run/.test(e.message)) {
        throw new UsageError(`${out} already holds a demo run; remove it or pass --out NEW_DIR`);
      }
      throw e;
    }
    if (r.signal !== null) return SIGNAL_EXIT[r.signal];
    const samples = path.join(out, 'samples');
    const code = await sample.run({ flags: { checkpoint: out, n: 64, sampler: 'ddim', steps: 50, out: samples, seed: (f.seed as number | undefined) ?? 0 }, positionals: [], help: false });
    console.log('');
    console.log(`trained ${r.step} steps in ${(r.seconds / 60).toFixed(1)} min`);
    console.log(`samples:    ${path.join(samples, 'grid.png')}`);
    console.log(`loss curve: ${path.join(out, 'loss.png')}`);
    console.log(`dashboard:  ${path.join(out, 'report.html')} (diffuse board ${out} serves it live)`);
    console.log(`log:        ${path.join(out, 'log.jsonl')}`);
    console.log(`checkpoint: ${r.checkpointDir}`);
    console.log(`next: diffuse sample --checkpoint digits-cpu --n 64 --out samples   (the shipped, longer-trained model)`);
    return code ?? 0;
  },
};
