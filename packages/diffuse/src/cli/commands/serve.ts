// `diffuse serve SITE`: serves a page made by `diffuse export --format web`, cross-origin isolated
// (so ONNX Runtime's wasm gets its threads), on loopback unless asked otherwise.
import { isLoopback } from '../../report/board-server.js';
import { serveSite } from '../../export/site-server.js';
import { UsageError } from '../args.js';
import type { Command } from '../main.js';
import { untilStopped } from '../until-stopped.js';

export const command: Command = {
  spec: {
    name: 'serve',
    summary: 'serve a sampling page made by `diffuse export --format web` (with the headers for wasm threads)',
    usage: 'diffuse serve SITE [--port N] [--host ADDR]',
    positionals: [{ name: 'SITE' }],
    flags: [
      { key: 'port', type: 'int', min: 0, max: 65535, help: 'port to listen on (0 = any free port)', defaultText: '8080' },
      { key: 'host', type: 'string', help: 'address to listen on; anything but loopback exposes the page and its model to the network', defaultText: '127.0.0.1' },
    ],
  },
  async run(args) {
    const host = (args.flags.host as string | undefined) ?? '127.0.0.1';
    if (host === '') throw new UsageError('--host needs an address, e.g. 127.0.0.1');
    const site = await serveSite(args.positionals[0]!, { host, port: (args.flags.port as number | undefined) ?? 8080 });
    if (!isLoopback(host)) console.error(`diffuse: warning: listening on ${host}: anyone who can reach this machine on port ${site.port} can download the model`);
    console.log(`diffuse serve: ${args.positionals[0]} at ${site.url}  (cross-origin isolated; Ctrl-C to stop)`);
    await untilStopped();
    await site.close();
    return 0;
  },
};
