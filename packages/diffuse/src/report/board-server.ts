// `diffuse board`: serves the dashboard of one or more run folders over HTTP and tells open pages
// when a run changes (server-sent events; the page then reloads /data.json). Loopback only unless
// the user asks otherwise; read-only: it never writes into a run folder.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

import { buildReportData, type ReportData } from './report-data.js';
import { renderReportHtml } from './report-html.js';
import { readRunFolder, withDistinctNames } from './run-folder.js';

/** The board cannot serve (port in use, an address not on this machine): the user's to fix. */
export class BoardError extends Error {
  override name = 'BoardError';
}

export interface BoardOptions {
  /** Run folders (`diffuse train --out`), shown overlaid when there are several. */
  dirs: string[];
  /** Address to listen on (default 127.0.0.1). */
  host?: string;
  /** Port (default 6006, TensorBoard's; 0 = any free one). */
  port?: number;
  /** How often the run folders are looked at for changes, in ms (default 1000). */
  pollMs?: number;
}

export interface Board {
  /** The page's address, e.g. http://127.0.0.1:6006/ */
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * Starts listening, with the user's mistakes (port in use, no permission, not an address of this
 * machine) as one-line BoardErrors.
 */
export function listenOn(server: Server, host: string, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EADDRINUSE') reject(new BoardError(`port ${port} on ${host} is in use; choose another with --port N (0 = any free port)`));
      else if (e.code === 'EACCES') reject(new BoardError(`no permission to listen on ${host}:${port}; choose a port above 1023 with --port N`));
      else if (e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN') reject(new BoardError(`cannot listen on ${host}: not an address of this machine`));
      else reject(e);
    });
    server.listen(port, host, () => resolve());
  });
}

/** Whether an address only this machine can reach. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function stamp(file: string): string {
  try {
    const s = statSync(file);
    return `${s.mtimeMs}:${s.size}`;
  } catch {
    return '-';
  }
}

/** What changes when a run logs, previews, checkpoints or evaluates. */
function signature(dirs: readonly string[]): string {
  return dirs.map((d) => ['log.jsonl', 'previews', 'checkpoints', 'config.json'].map((f) => stamp(path.join(d, f))).join(',')).join(';');
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer, cache = 'no-store'): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': cache, 'x-content-type-options': 'nosniff' });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

/**
 * Starts the board server.
 * @param o the run folders and where to listen.
 * @returns the running board; close() stops it.
 * @throws RunFolderError for a missing run folder or one with no log.jsonl, BoardError when the
 *   address cannot be listened on.
 */
export async function startBoard(o: BoardOptions): Promise<Board> {
  const dirs = o.dirs.map((d) => path.resolve(d));
  // Checked up front, so a typo is one line before anything listens.
  const read = (): ReportData => buildReportData(withDistinctNames(dirs.map(readRunFolder)), { live: true, images: 'url' });
  let last = read();
  let lastSig = signature(dirs);
  const host = o.host ?? '127.0.0.1';
  const port = o.port ?? 6006;

  const data = (): ReportData => {
    try {
      last = read();
    } catch {
      // A run folder removed while served: keep showing what was last read.
    }
    return last;
  };

  const clients = new Set<ServerResponse>();
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    // A page on another site must not read the runs through a DNS name that points here.
    const hostHeader = (req.headers.host ?? '').replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
    if (isLoopback(host) && !isLoopback(hostHeader)) return send(res, 403, 'text/plain', 'forbidden host\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'method not allowed\n');
    const url = new URL(req.url ?? '/', 'http://board');
    if (url.pathname === '/' || url.pathname === '/index.html') return send(res, 200, 'text/html; charset=utf-8', renderReportHtml(data()));
    if (url.pathname === '/data.json') return send(res, 200, 'application/json', JSON.stringify(data()));
    if (url.pathname === '/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
      res.write('retry: 2000\n\n');
      clients.add(res);
      req.on('close', () => clients.delete(res));
      return;
    }
    const m = /^\/run\/(\d+)\/previews\/(step-\d+\.png)$/.exec(url.pathname);
    const dir = m !== null ? dirs[Number(m[1])] : undefined;
    if (m !== null && dir !== undefined) {
      const file = path.join(dir, 'previews', m[2]!);
      // A step's preview never changes (a resumed run draws the same one): pages redrawn on every
      // update must not fetch them all again.
      if (existsSync(file)) return send(res, 200, 'image/png', readFileSync(file), 'max-age=3600');
    }
    send(res, 404, 'text/plain', 'not found\n');
  };

  const server = createServer((req, res) => {
    try {
      handle(req, res);
    } catch (e) {
      if (!res.headersSent) send(res, 500, 'text/plain', `${(e as Error).message}\n`);
    }
  });
  await listenOn(server, host, port);

  const poll = setInterval(() => {
    const sig = signature(dirs);
    if (sig === lastSig) return;
    lastSig = sig;
    for (const c of clients) c.write(`event: update\ndata: ${Date.now()}\n\n`);
  }, o.pollMs ?? 1000);
  // Proxies close idle streams; a comment every 15 s keeps them open.
  const ping = setInterval(() => {
    for (const c of clients) c.write(': ping\n\n');
  }, 15_000);

  const actual = (server.address() as AddressInfo).port;
  const shown = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  return {
    url: `http://${shown}:${actual}/`,
    port: actual,
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(poll);
        clearInterval(ping);
        for (const c of clients) c.end();
        clients.clear();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
