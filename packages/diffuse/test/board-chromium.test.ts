// The dashboard in a real browser: `diffuse board`'s page loaded from 127.0.0.1 in Debian's
// headless Chromium (/usr/bin/chromium, driven through puppeteer-core; never a downloaded
// browser). The charts must have drawn, the values shown on hover must be log.jsonl's, the
// previews must load, a new log row must appear live, report.html must draw from disk, and two
// runs must be overlaid with their config differences. Skipped, with the reason, where Chromium is not installed (.ci/run
// installs it).
import assert from 'node:assert/strict';
import { appendFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';

import puppeteer, { type Browser, type Page } from 'puppeteer-core';

import { startBoard, type Board } from '../src/report/board-server.js';
import { diffuse, readTrainLog, TINY_MODEL } from './cli-helpers.js';
import { tempDir, writeSyntheticRun } from './board-fixtures.js';

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

interface ChartFacts {
  ids: string[];
  painted: Record<string, number>;
}

/**
 * Runs a JavaScript expression in the page (the tests' tsconfig has no DOM types, so the page's
 * side is written as source text).
 */
function inPage<T>(page: Page, js: string): Promise<T> {
  return page.evaluate(js) as Promise<T>;
}

const READY = 'window.diffuseBoard !== undefined && window.diffuseBoard.ready === true';

/** Which charts exist and how many of their canvas pixels are painted. */
function chartFacts(page: Page): Promise<ChartFacts> {
  return inPage(page, `(() => {
    const painted = {};
    for (const [id, u] of window.diffuseBoard.charts) {
      const { data } = u.ctx.getImageData(0, 0, u.ctx.canvas.width, u.ctx.canvas.height);
      let n = 0;
      for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++;
      painted[id] = n;
    }
    return { ids: [...window.diffuseBoard.charts.keys()], painted };
  })()`);
}

/** Hovers a chart at a step; returns the step under the cursor and the legend's value texts. */
function hover(page: Page, chart: string, step: number): Promise<{ step: number; values: string[] }> {
  return inPage(page, `(() => {
    const u = window.diffuseBoard.charts.get(${JSON.stringify(chart)});
    u.setCursor({ left: u.valToPos(${step}, 'x'), top: 10 });
    const values = [...u.root.querySelectorAll('.u-legend .u-series .u-value')].map((e) => e.textContent);
    return { step: u.data[0][u.cursor.idx], values };
  })()`);
}

test('diffuse board in headless Chromium: charts drawn, values of log.jsonl, previews, live rows, two runs compared', async (t) => {
  if (!existsSync(CHROMIUM)) {
    t.skip(`${CHROMIUM} is not installed (apt-get install -y chromium; .ci/run installs it)`);
    return;
  }
  const root = tempDir('chromium');
  const run = path.join(root, 'tiny');
  const r = diffuse('train', '--data', 'mnist', '--out', run, ...TINY_MODEL, '--steps', '40', '--log-interval', '1', '--batch-size', '4', '--preview-interval', '10');
  assert.equal(r.code, 0, r.stderr);
  const log = readTrainLog(run);
  const other = path.join(root, 'other');
  await writeSyntheticRun(other, 1e-3);

  let browser: Browser | undefined;
  let board: Board | undefined;
  let pair: Board | undefined;
  try {
    board = await startBoard({ dirs: [run], port: 0, pollMs: 100 });
    browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: [...FLAGS, `--user-data-dir=${path.join(root, 'profile')}`], timeout: 30_000 });
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(board.url, { waitUntil: 'load' });
    await page.waitForFunction(READY, { timeout: 10_000 });

    const facts = await chartFacts(page);
    for (const id of ['loss', 'loss_quartiles', 'mse', 'vb', 'grad_norm', 'lr', 'imgPerSec']) {
      assert.ok(facts.ids.includes(id), `chart ${id} (have ${facts.ids.join(', ')})`);
      assert.ok(facts.painted[id]! > 2000, `chart ${id} drew (${facts.painted[id]} pixels painted)`);
    }
    // Hover values: the first legend entry after 'step' is the raw loss, as logged.
    for (const i of [0, Math.floor(log.length / 2), log.length - 1]) {
      const h = await hover(page, 'loss', log[i]!.step);
      assert.equal(h.step, log[i]!.step, 'the cursor is on the step');
      const shown = Number(h.values[1]);
      assert.ok(Math.abs(shown - log[i]!.loss!) <= 1e-4 * Math.abs(log[i]!.loss!), `loss at step ${h.step}: shown ${h.values[1]}, logged ${log[i]!.loss}`);
    }
    // The time axis (TensorBoard's 'relative'): the same losses against the minutes trained.
    const byTime = await inPage<{ xs: number[]; ys: number[] }>(page, `(() => {
      const select = document.getElementById('x-axis');
      select.value = 'time';
      select.dispatchEvent(new Event('change'));
      const u = window.diffuseBoard.charts.get('loss');
      const r = { xs: u.data[0], ys: u.data[1] };
      select.value = 'step';
      select.dispatchEvent(new Event('change'));
      return r;
    })()`);
    assert.deepEqual(byTime.ys, log.map((row) => row.loss), 'the losses against time');
    byTime.xs.forEach((x, i) => assert.ok(Math.abs(x - log[i]!.elapsed / 60) < 1e-9, `minutes at row ${i}`));
    assert.equal((await hover(page, 'loss', log[3]!.step)).step, log[3]!.step, 'back on steps');
    const summary = await inPage<string[]>(page, `[...document.querySelectorAll('table.summary tbody tr:first-child td')].map((td) => td.textContent)`);
    assert.equal(summary[0], 'tiny');
    assert.equal(summary[1], `${log.at(-1)!.step} / 40`);
    assert.ok(Math.abs(Number(summary[2]) - log.at(-1)!.loss!) <= 1e-4 * log.at(-1)!.loss!, `summary loss ${summary[2]}`);
    // The previews strip: 4 grids (steps 10…40), the last shown and loaded from the server.
    const strip = await inPage<{ thumbs: number; max: string; loaded: number; label: string }>(page, `({
      thumbs: document.querySelectorAll('.strip img').length,
      max: document.querySelector('#previews input[type=range]').max,
      loaded: document.querySelector('img.preview').naturalWidth,
      label: document.querySelector('.preview-step').textContent,
    })`);
    assert.deepEqual(strip, { thumbs: 4, max: '3', loaded: strip.loaded, label: 'step 40' });
    assert.ok(strip.loaded > 0, 'the preview image loaded');

    // Live: a row appended to log.jsonl reaches the open page through /events.
    appendFileSync(path.join(run, 'log.jsonl'), JSON.stringify({ ...log.at(-1)!, step: 41, loss: 0.0123 }) + '\n');
    await page.waitForFunction("window.diffuseBoard.charts.get('loss').data[1].at(-1) === 0.0123", { timeout: 10_000 });
    assert.deepEqual(errors, [], 'no script errors');

    // OUT/report.html, as train left it, draws from disk with nothing fetched.
    await page.goto(pathToFileURL(path.join(run, 'report.html')).href, { waitUntil: 'load' });
    await page.waitForFunction(READY, { timeout: 10_000 });
    const fromDisk = await chartFacts(page);
    assert.ok(fromDisk.painted.loss! > 2000, `report.html from disk drew its loss chart (${fromDisk.painted.loss} pixels)`);
    const thumbs = await inPage<number>(page, `document.querySelectorAll('.strip img').length`);
    assert.equal(thumbs, 4, 'report.html embeds the previews');

    // Two runs: overlaid curves and the config keys that differ.
    pair = await startBoard({ dirs: [run, other], port: 0, pollMs: 100 });
    await page.goto(pair.url, { waitUntil: 'load' });
    await page.waitForFunction(READY, { timeout: 10_000 });
    const labels = await inPage<string[]>(page, `[...document.querySelectorAll('[data-chart="loss"] .u-legend .u-series th')].map((e) => e.textContent)`);
    assert.ok(labels.some((l) => l.includes('tiny: loss')) && labels.some((l) => l.includes('other: loss')), `both runs on the loss chart: ${labels.join(' | ')}`);
    const diff = await inPage<string[][]>(page, `[...document.querySelectorAll('table.diff tbody tr')].map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent))`);
    const lr = diff.find((row) => row[0] === 'optim.lr');
    assert.deepEqual(lr?.slice(1), [String(log[0]!.lr), '0.001'], 'the learning rates side by side');
    const evalCharts = (await chartFacts(page)).ids.filter((id) => id.startsWith('eval_'));
    assert.deepEqual(evalCharts, ['eval_fid', 'eval_kid', 'eval_precision', 'eval_recall']);
    assert.deepEqual(errors, [], 'no script errors');
  } finally {
    await browser?.close();
    await board?.close();
    await pair?.close();
  }
});
