// What the views read from a run folder: log.jsonl as a run being written leaves it, the ETA,
// the config differences, and how many previews a self-contained page embeds.
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { buildReportData, configDifferences, toColumns } from '../src/report/report-data.js';
import { parseLog, readRunFolder } from '../src/report/run-folder.js';
import { tempDir, writeSyntheticRun } from './board-fixtures.js';

test('parseLog: a cut last line is skipped, a step logged twice keeps its last row, evals apart', () => {
  const text = [
    JSON.stringify({ step: 1, loss: 1 }),
    JSON.stringify({ step: 2, loss: 0.9, note: 'text is not a series' }),
    JSON.stringify({ step: 2, loss: 0.8 }),
    JSON.stringify({ step: 2, eval: true, fid: 50 }),
    '{"step":3,"loss":0.',
  ].join('\n');
  const { rows, evals } = parseLog(text);
  assert.deepEqual(rows, [{ step: 1, loss: 1 }, { step: 2, loss: 0.8 }]);
  assert.deepEqual(evals, [{ step: 2, fid: 50 }]);
  assert.deepEqual(toColumns([{ step: 1, a: 1 }, { step: 2, b: 2 }]), { step: [1, 2], a: [1, null], b: [null, 2] });
});

test('ETA from the recent rate, capped by the wall-clock budget; none once the goal is reached', async () => {
  const dir = path.join(tempDir('eta'), 'run');
  await writeSyntheticRun(dir, 2e-4, 50); // steps 10…500, 0.5 s per 10 steps
  const cfgFile = path.join(dir, 'config.json');
  const cfg = JSON.parse(readFileSync(cfgFile, 'utf8')) as { run: { steps: number; minutes: number } };
  cfg.run.steps = 1000;
  writeFileSync(cfgFile, JSON.stringify(cfg));
  const eta = readRunFolder(dir).etaSeconds!;
  assert.ok(Math.abs(eta - 25) < 1e-9, `500 steps to go at 20 steps/s: ${eta}`);
  cfg.run.minutes = 0.5; // 30 s budget, 25 s used
  writeFileSync(cfgFile, JSON.stringify(cfg));
  assert.ok(Math.abs(readRunFolder(dir).etaSeconds! - 5) < 1e-9);
  cfg.run.steps = 500;
  writeFileSync(cfgFile, JSON.stringify(cfg));
  assert.equal(readRunFolder(dir).etaSeconds, null);
});

test('config differences: only the keys that differ, nested keys dotted, arrays compared whole', () => {
  const d = configDifferences([
    { optim: { lr: 1, emaRates: [0.9] }, run: { steps: 5 } },
    { optim: { lr: 2, emaRates: [0.9] }, run: { steps: 5, extra: true } },
  ]);
  assert.deepEqual(d, [{ key: 'optim.lr', values: [1, 2] }, { key: 'run.extra', values: [null, true] }]);
  assert.deepEqual(configDifferences([{ a: 1 }]), []);
});

test('a self-contained page embeds at most 48 previews, evenly spaced, the last one kept', async () => {
  const dir = path.join(tempDir('embed'), 'run');
  await writeSyntheticRun(dir);
  const src = path.join(dir, 'previews', 'step-0000500.png');
  for (let s = 1; s <= 100; s++) copyFileSync(src, path.join(dir, 'previews', `step-${String(s * 10).padStart(7, '0')}.png`));
  const run = readRunFolder(dir);
  assert.equal(run.previews.length, 100);
  const embedded = buildReportData([run]).runs[0]!.previews;
  assert.equal(embedded.length, 48);
  assert.equal(embedded.at(-1)!.step, 1000);
  assert.ok(embedded.every((p) => p.src.startsWith('data:image/png;base64,')));
  const linked = buildReportData([run], { images: 'url' }).runs[0]!.previews;
  assert.equal(linked.length, 100);
  assert.equal(linked[0]!.src, 'run/0/previews/step-0000010.png');
});
