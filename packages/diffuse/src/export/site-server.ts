// Serves an exported sampling page (`diffuse serve SITE`): static files with the headers that make
// the page cross-origin isolated (COOP same-origin + COEP require-corp), which browsers require
// before they give ONNX Runtime's wasm its threads (SharedArrayBuffer). Loopback by default.
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

import { BoardError, listenOn } from '../report/board-server.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
  '.png': 'image/png',
  '.map': 'application/json',
};

export interface SiteServer {
  /** The page's address, e.g. http://127.0.0.1:8080/ */
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * Serves a folder made by `diffuse export --format web`.
 * @param dir the site folder (must hold index.html).
 * @param o where to listen (default 127.0.0.1:8080; port 0 = any free one).
 * @throws BoardError for a folder that is no site, or an address that cannot be listened on.
 */
export async function serveSite(dir: string, o: { host?: string; port?: number } = {}): Promise<SiteServer> {
  const root = path.resolve(dir);
  if (!existsSync(path.join(root, 'index.html'))) throw new BoardError(`${dir}: no index.html here; make a site with 'diffuse export --format web --checkpoint M --out ${dir}'`);
  const host = o.host ?? '127.0.0.1';
  const server = createServer((req, res) => {
    const headers = {
      'cross-origin-opener-policy': 'same-origin',
      'cross-origin-embedder-policy': 'require-corp',
      'cross-origin-resource-policy': 'same-origin',
      'x-content-type-options': 'nosniff',
      'cache-control': 'no-cache',
    };
    const urlPath = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = path.join(root, urlPath.endsWith('/') ? `${urlPath}index.html` : urlPath);
    // Nothing outside the site folder, and only GET/HEAD.
    if ((req.method !== 'GET' && req.method !== 'HEAD') || (file !== root && !file.startsWith(root + path.sep))) {
      res.writeHead(req.method === 'GET' || req.method === 'HEAD' ? 403 : 405, headers).end();
      return;
    }
    if (!existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, { ...headers, 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    res.writeHead(200, { ...headers, 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream', 'content-length': statSync(file).size });
    if (req.method === 'HEAD') res.end();
    else createReadStream(file).pipe(res);
  });
  await listenOn(server, host, o.port ?? 8080);
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/`,
    port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
