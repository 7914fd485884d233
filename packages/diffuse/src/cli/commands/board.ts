// `diffuse board OUT [OUT2 …]`: the run dashboard in the browser, live while training runs;
// several runs are overlaid, with their config differences listed.
import { BoardError, isLoopback, startBoard } from '../../report/board-server.js';
import type { Command } from '../main.js';
import { untilStopped } from '../until-stopped.js';

export const command: Command = {
  spec: {
    name: 'board',
    summary: 'serve the dashboard of training runs (live charts, previews, checkpoints; several runs overlaid)',
    usage: 'diffuse board OUT [OUT2 …] [--port N] [--host ADDR]',
    positionals: [{ name: 'OUT' }, { name: 'OUT2', optional: true, variadic: true }],
    flags: [
      { key: 'port', type: 'int', min: 0, max: 65535, help: 'port to listen on (0 = any free port)', defaultText: '6006' },
      { key: 'host', type: 'string', help: 'address to listen on; anything but loopback exposes the runs to the network', defaultText: '127.0.0.1' },
    ],
  },
  async run(args) {
    const host = (args.flags.host as string | undefined) ?? '127.0.0.1';
    if (host === '') throw new BoardError('--host needs an address, e.g. 127.0.0.1');
    const board = await startBoard({ dirs: args.positionals, host, port: (args.flags.port as number | undefined) ?? 6006 });
    if (!isLoopback(host)) {
      console.error(`diffuse: warning: listening on ${host}: anyone who can reach this machine on port ${board.port} can read these runs (configs, logs, sample grids); there is no password`);
    }
    console.log(`diffuse board: ${args.positionals.join(', ')} at ${board.url}  (updates live; Ctrl-C to stop)`);
    await untilStopped();
    await board.close();
    return 0;
  },
};
