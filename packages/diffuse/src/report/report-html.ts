// The dashboard page: one HTML file with uPlot, the dashboard script, its style and the data
// inlined, so that OUT/report.html opens from disk with nothing fetched (no CDN, no server).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

import type { ReportData } from './report-data.js';

interface Assets {
  uplotJs: string;
  uplotCss: string;
  dashboardJs: string;
  dashboardCss: string;
}

let cached: Assets | undefined;

/** The inlined files, read once: uPlot from its package, ours from packages/diffuse/assets/board. */
function assets(): Assets {
  if (cached === undefined) {
    const require = createRequire(import.meta.url);
    const own = (name: string): string => readFileSync(fileURLToPath(new URL(`../../../assets/board/${name}`, import.meta.url)), 'utf8');
    cached = {
      // uPlot's MIT licence travels with the copy of uPlot inside every page.
      uplotJs: `/*!\n${readFileSync(require.resolve('uplot/LICENSE'), 'utf8').replace(/\*\//g, '* /')}*/\n${readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8')}`,
      uplotCss: readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8'),
      dashboardJs: own('dashboard.js'),
      dashboardCss: own('dashboard.css'),
    };
  }
  return cached;
}

/** Text safe inside a <script> or <style> element: a `</` could close it early. */
function inScript(text: string): string {
  return text.replace(/<\/(script|style)/gi, '<\\/$1');
}

/** JSON safe inside <script type="application/json">: `<` escaped, so no tag can open or close. */
function jsonInScript(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/** Text safe inside HTML elements and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

/**
 * The dashboard page for these runs.
 * @param data what to show (buildReportData).
 * @returns a complete HTML document.
 */
export function renderReportHtml(data: ReportData): string {
  const a = assets();
  const title = `diffuse · ${data.runs.map((r) => r.name).join(' vs ')}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="diffuse">
<title>${escapeHtml(title)}</title>
<style>${inScript(a.uplotCss)}</style>
<style>${inScript(a.dashboardCss)}</style>
</head>
<body>
<header><h1 id="title">${escapeHtml(title)}</h1><span id="status"></span></header>
<main>
<section id="summary"></section>
<div id="controls"></div>
<section id="charts"></section>
<h2>Samples over training</h2>
<section id="previews"></section>
<section id="tables"></section>
<section id="config"></section>
</main>
<script type="application/json" id="board-data">${jsonInScript(data)}</script>
<script>${inScript(a.uplotJs)}</script>
<script>${inScript(a.dashboardJs)}</script>
</body>
</html>
`;
}
