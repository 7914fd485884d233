// `diffuse train` keeps OUT/report.html and loss.png up to date: every read while training sees a
// whole page (atomic rename), the page shows what log.jsonl holds, and a kill -9 leaves both valid.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import sharp from 'sharp';

import type { ReportData } from '../src/report/report-data.js';
import { BIN, readTrainLog, TINY_MODEL, waitUntil } from './cli-helpers.js';
import { tempDir } from './board-fixtures.js';

/** The data inside a report.html; fails the test if the page is not whole. */
function reportData(html: string): ReportData {
  assert.ok(html.startsWith('<!doctype html>'), 'starts as a page');
  assert.ok(html.endsWith('</html>\n'), `ends as a page (${html.length} bytes)`);
  const m = /<script type="application\/json" id="board-data">(.*?)<\/script>/s.exec(html);
  assert.ok(m !== null, 'has the data');
  return JSON.parse(m[1]!) as ReportData;
}

test('report.html is replaced atomically while training and is valid after kill -9', async () => {
  const out = path.join(tempDir('report'), 'run');
  const report = path.join(out, 'report.html');
  const env = { ...process.env, DIFFUSE_THREADS: '1', DIFFUSE_REPORT_INTERVAL_MS: '100' };
  const args = ['train', '--data', 'mnist', '--out', out, ...TINY_MODEL, '--steps', '100000', '--log-interval', '1', '--batch-size', '4', '--preview-interval', '25', '--save-interval', '100000'];
  const child = spawn(process.execPath, [BIN, ...args], { env, stdio: 'ignore' });
  const versions = new Set<string>();
  let reads = 0;
  try {
    await waitUntil(() => existsSync(report), 'the first report.html', 60_000);
    const until = Date.now() + 3000;
    while (Date.now() < until) {
      const d = reportData(readFileSync(report, 'utf8'));
      assert.equal(d.runs.length, 1);
      versions.add(d.generatedAt);
      reads++;
      await new Promise((r) => setTimeout(r, 3));
    }
  } finally {
    child.kill('SIGKILL');
    await once(child, 'exit');
  }
  assert.ok(versions.size >= 3, `saw ${versions.size} versions of report.html in ${reads} reads`);

  const d = reportData(readFileSync(report, 'utf8'));
  const run = d.runs[0]!;
  const log = readTrainLog(out);
  const byStep = new Map(log.map((r) => [r.step, r]));
  const steps = run.series.step!;
  assert.ok(steps.length > 0 && steps.length <= log.length, `${steps.length} rows shown of ${log.length} logged`);
  steps.forEach((s, i) => {
    const row = byStep.get(s!);
    assert.ok(row !== undefined, `step ${s} is in log.jsonl`);
    assert.equal(run.series.loss![i], row.loss, `loss at step ${s}`);
    assert.equal(run.series.loss_q0![i] ?? undefined, row.loss_q0, `loss_q0 at step ${s}`);
  });
  assert.equal(run.hardware?.threads, 1, 'hardware.json: the thread count');
  assert.ok(run.previews.length >= 1 && run.previews[0]!.src.startsWith('data:image/png;base64,'), 'previews embedded');
  const meta = await sharp(path.join(out, 'loss.png')).metadata();
  assert.equal(meta.format, 'png');
  assert.ok(meta.width! > 500, 'loss.png is whole');
  // Only the temporary files of an interrupted write may be left, hidden, beside them.
  assert.deepEqual(readdirSync(out).filter((f) => !f.startsWith('.')).sort(), ['checkpoints', 'config.json', 'hardware.json', 'log.jsonl', 'loss.png', 'previews', 'report.html'].filter((f) => f !== 'checkpoints' || existsSync(path.join(out, f))));
});
