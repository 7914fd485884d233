// `diffuse board` and `diffuse compare`: the server answers on loopback only, serves the page,
// the data and the previews, tells open pages when a run changes, and every bad input is one line
// with exit code 2.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { appendFileSync, mkdirSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import path from 'node:path';
import { test } from 'node:test';

import { startBoard, isLoopback } from '../src/report/board-server.js';
import type { ReportData } from '../src/report/report-data.js';
import { parseLog, withDistinctNames, type RunData } from '../src/report/run-folder.js';
import { main } from '../src/cli/main.js';
import { assertUserError, BIN, type CliResult } from './cli-helpers.js';
import { syntheticLog, syntheticRun as syntheticRunData, tempDir, writeSyntheticRun } from './board-fixtures.js';

/**
 * Runs the CLI's main() in this process (what bin/diffuse.js runs, without the ~1 s start of a
 * new process), its console output captured.
 * @returns the exit code main() returns and what it printed.
 */
async function diffuse(...args: string[]): Promise<CliResult> {
  const out: string[] = [];
  const err: string[] = [];
  const { log, error } = console;
  console.log = (...a: unknown[]) => void out.push(a.join(' '));
  console.error = (...a: unknown[]) => void err.push(a.join(' '));
  try {
    const code = await main(args);
    return { code, stdout: out.map((l) => l + '\n').join(''), stderr: err.map((l) => l + '\n').join('') };
  } finally {
    console.log = log;
    console.error = error;
  }
}

/** GET with a chosen Host header (fetch does not let one set it). */
function get(port: number, pathname: string, host = `127.0.0.1:${port}`): Promise<{ status: number; type: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: pathname, headers: { host } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, type: String(res.headers['content-type']), body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('board serves page, data, previews and live updates on loopback; compares configs', async () => {
  const root = tempDir('board');
  const a = path.join(root, 'a');
  const b = path.join(root, 'b');
  await writeSyntheticRun(a, 2e-4);
  await writeSyntheticRun(b, 1e-3, 50);
  const board = await startBoard({ dirs: [a, b], port: 0, pollMs: 50 });
  try {
    assert.match(board.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const page = await get(board.port, '/');
    assert.equal(page.status, 200);
    assert.match(page.type, /text\/html/);
    assert.match(page.body.toString(), /id="board-data"/);

    const data = JSON.parse((await get(board.port, '/data.json')).body.toString()) as ReportData;
    assert.equal(data.live, true);
    assert.deepEqual(data.runs.map((r) => r.name), ['a', 'b']);
    const logged = parseLog(syntheticLog()).rows;
    assert.deepEqual(data.runs[0]!.series.loss, logged.map((r) => r.loss), 'the served losses are the logged ones');
    assert.deepEqual(data.configDiff.find((d) => d.key === 'optim.lr')?.values, [2e-4, 1e-3]);
    assert.deepEqual(data.configDiff.find((d) => d.key === 'run.steps')?.values, [1000, 500]);
    assert.equal(data.configDiff.length, 2, 'only the keys that differ');

    const src = data.runs[1]!.previews[0]!.src;
    const png = await get(board.port, `/${src}`);
    assert.equal(png.status, 200);
    assert.equal(png.type, 'image/png');
    for (const bad of ['/run/0/previews/../config.json', '/run/0/previews/%2e%2e%2fconfig.json', '/run/7/previews/step-0000500.png', '/nothing']) {
      assert.equal((await get(board.port, bad)).status, 404, bad);
    }
    // DNS rebinding: a page of another site reaching 127.0.0.1 through its own name is refused.
    assert.equal((await get(board.port, '/data.json', 'attacker.example:80')).status, 403);
    assert.equal((await get(board.port, '/', `localhost:${board.port}`)).status, 200);

    // A new log row reaches an open page as an 'update' event.
    const events = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
      request({ host: '127.0.0.1', port: board.port, path: '/events' }, resolve).on('error', reject).end();
    });
    assert.match(String(events.headers['content-type']), /text\/event-stream/);
    let text = '';
    const updated = new Promise<void>((resolve) => {
      events.on('data', (c: Buffer) => {
        text += c.toString();
        if (text.includes('event: update')) resolve();
      });
    });
    await new Promise((r) => setTimeout(r, 100));
    appendFileSync(path.join(a, 'log.jsonl'), JSON.stringify({ step: 1010, loss: 0.0123, lr: 2e-4, imgPerSec: 1, elapsed: 51, examples: 1 }) + '\n');
    await Promise.race([updated, new Promise((_, rej) => setTimeout(() => rej(new Error(`no update event; got ${JSON.stringify(text)}`)), 5000))]);
    events.destroy();
    const after = JSON.parse((await get(board.port, '/data.json')).body.toString()) as ReportData;
    assert.equal(after.runs[0]!.series.loss!.at(-1), 0.0123);
  } finally {
    await board.close();
  }
});

test('runs that share a folder name get names that tell them apart', () => {
  const run = (dir: string): RunData => ({ ...syntheticRunData(), dir, name: path.basename(dir) });
  const named = withDistinctNames([run('/s/lr-1/seed-0'), run('/s/lr-2/seed-0'), run('/t/other')]);
  assert.deepEqual(named.map((r) => r.name), ['lr-1/seed-0', 'lr-2/seed-0', 't/other']);
  assert.deepEqual(withDistinctNames([run('/x/a'), run('/x/b')]).map((r) => r.name), ['a', 'b']);
});

test('loopback addresses are told apart from exposed ones', () => {
  for (const h of ['127.0.0.1', '127.0.0.2', 'localhost', '::1']) assert.equal(isLoopback(h), true, h);
  for (const h of ['0.0.0.0', '::', '192.168.1.2', 'example.com']) assert.equal(isLoopback(h), false, h);
});

test('diffuse board runs until SIGTERM and exits 0', async () => {
  const dir = path.join(tempDir('board-cli'), 'run');
  await writeSyntheticRun(dir);
  const child = spawn(process.execPath, [BIN, 'board', dir, '--port', '0'], { env: { ...process.env, DIFFUSE_THREADS: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  try {
    const deadline = Date.now() + 20_000;
    while (!/http:\/\/127\.0\.0\.1:\d+\//.test(stdout) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const url = /http:\/\/127\.0\.0\.1:\d+\//.exec(stdout)?.[0];
    assert.ok(url !== undefined, `prints its address (stdout ${stdout}, stderr ${stderr})`);
    const r = await fetch(url);
    assert.equal(r.status, 200);
    await r.text();
    assert.equal(stderr, '', 'no warning on loopback');
  } finally {
    child.kill('SIGTERM');
  }
  const [code] = await once(child, 'exit');
  assert.equal(code, 0);
});

test('diffuse board and compare: bad input is one line and exit code 2', async () => {
  const root = tempDir('board-bad');
  assertUserError(await diffuse('board'), /'diffuse board' needs OUT \(usage: diffuse board OUT \[OUT2 …\]/);
  assertUserError(await diffuse('board', path.join(root, 'missing')), /missing: no such run folder/);
  mkdirSync(path.join(root, 'empty'));
  assertUserError(await diffuse('board', path.join(root, 'empty')), /empty: no log\.jsonl/);
  const run = path.join(root, 'run');
  await writeSyntheticRun(run);
  assertUserError(await diffuse('compare', run, '--metric', 'nope'), /no run logged 'nope'; logged: .*fid/);
  const taken = createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
  const port = (taken.address() as import('node:net').AddressInfo).port;
  try {
    assertUserError(await diffuse('board', run, '--port', String(port)), new RegExp(`port ${port} on 127\\.0\\.0\\.1 is in use; choose another with --port`));
  } finally {
    taken.close();
  }
});

test('diffuse compare prints the metric per run, best first, and the config differences', async () => {
  const root = tempDir('compare');
  await writeSyntheticRun(path.join(root, 'slow'), 2e-4, 100);
  await writeSyntheticRun(path.join(root, 'short'), 1e-3, 50);
  const r = await diffuse('compare', path.join(root, 'short'), path.join(root, 'slow'), '--metric', 'fid');
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n');
  assert.match(lines[0]!, /^run\s+steps\s+fid last\s+fid best\s+best at step/);
  // slow reached step 1,000 (FID 20); short stopped at 500 (FID 40): slow is first.
  assert.match(lines[2]!, /^slow\s+1000\s+20\s+20\s+1000/);
  assert.match(lines[3]!, /^short\s+500\s+40\s+40\s+500/);
  assert.match(r.stdout, /optim\.lr\s+short=0\.001\s+slow=0\.0002/);
  const j = JSON.parse((await diffuse('compare', path.join(root, 'slow'), '--json')).stdout) as { metric: string; runs: { last: number }[] };
  assert.equal(j.metric, 'loss');
  assert.equal(j.runs.length, 1);
});
