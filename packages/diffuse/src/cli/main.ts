// The `diffuse` command: dispatches to a subcommand and turns user mistakes into one line on
// stderr with exit code 2 (never a stack trace); unexpected failures exit 1.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { helpText, parseArgs, UsageError, type CommandSpec, type Parsed } from './args.js';
import { isUserError, userMessage } from './errors.js';
import { watchLauncher } from './launcher.js';

export interface Command {
  spec: CommandSpec;
  run(args: Parsed): Promise<number | void>;
}

async function commands(): Promise<Command[]> {
  const mods = await Promise.all([
    import('./commands/train.js'),
    import('./commands/sample.js'),
    import('./commands/noise.js'),
    import('./commands/animate.js'),
    import('./commands/info.js'),
    import('./commands/demo.js'),
    import('./commands/nll.js'),
    import('./commands/fid.js'),
    import('./commands/board.js'),
    import('./commands/compare.js'),
    import('./commands/finetune.js'),
    import('./commands/distill.js'),
    import('./commands/lora.js'),
    import('./commands/controlnet.js'),
    import('./commands/edit.js'),
    import('./commands/inpaint.js'),
    import('./commands/invert.js'),
    import('./commands/interpolate.js'),
    import('./commands/export.js'),
    import('./commands/serve.js'),
    import('./commands/import.js'),
    import('./commands/autoencoder.js'),
    import('./commands/prior.js'),
  ]);
  return mods.map((m) => m.command);
}

function version(): string {
  const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../../../package.json', import.meta.url)), 'utf8')) as { version: string };
  return pkg.version;
}

function topHelp(cmds: Command[]): string {
  const w = Math.max(...cmds.map((c) => c.spec.name.length)) + 2;
  return [
    'diffuse — train, sample and evaluate image diffusion models (libtorch under TypeScript)',
    '',
    'usage: diffuse <command> [flags]     (diffuse <command> --help for its flags)',
    '',
    'commands:',
    ...cmds.map((c) => `  ${c.spec.name.padEnd(w)}${c.spec.summary}`),
    '',
    'Start with `diffuse demo`: it trains a small model on the bundled digits and samples a grid.',
  ].join('\n');
}

/** Runs the CLI; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  try {
    if (name === '--version' || name === '-v') {
      console.log(version());
      return 0;
    }
    const cmds = await commands();
    if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
      console.log(topHelp(cmds));
      return name === undefined ? 2 : 0;
    }
    const cmd = cmds.find((c) => c.spec.name === name);
    if (cmd === undefined) throw new UsageError(`unknown command '${name}'; commands: ${cmds.map((c) => c.spec.name).join(', ')}`);
    const args = parseArgs(rest, cmd.spec);
    if (args.help) {
      console.log(helpText(cmd.spec));
      return 0;
    }
    // Stopping npx stops the command too, with what its SIGTERM handling saves (see launcher.ts).
    const unwatch = watchLauncher(() => {
      console.error('diffuse: npm, which started this command, has exited — stopping as on SIGTERM');
      process.kill(process.pid, 'SIGTERM');
    });
    try {
      return (await cmd.run(args)) ?? 0;
    } finally {
      unwatch();
    }
  } catch (e) {
    if (isUserError(e)) {
      console.error(`diffuse: ${userMessage(e)}`);
      return 2;
    }
    const err = e as Error;
    console.error(`diffuse: internal error: ${err?.message?.split('\n')[0] ?? String(e)}`);
    if (process.env.DIFFUSE_DEBUG) console.error(err?.stack);
    else console.error('(set DIFFUSE_DEBUG=1 for the stack trace, and please report it)');
    return 1;
  }
}
