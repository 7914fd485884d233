// The run dashboard in the browser: draws the ReportData embedded in the page (report-data.ts)
// with uPlot (inlined before this script), and, when served by `diffuse board`, follows the
// server's /events stream and reloads /data.json on every change. Plain ES2020, no build step,
// so that report.html stays one file that opens from disk.
/* global uPlot */
(function () {
  'use strict';

  const RUN_COLORS = ['#1f4e9c', '#c4403a', '#2e8b57', '#7d2e68', '#e8772e', '#008b8b', '#8b6914', '#555555'];
  const QUARTILE_COLORS = ['#f2b134', '#e8772e', '#c4403a', '#7d2e68'];
  const HIDDEN_KEYS = new Set(['step', 'examples', 'elapsed', 'eval']);
  const EVAL_HIDDEN = new Set(['step', 'eval', 'samples', 'kidStd']);

  const state = { data: null, charts: new Map(), smoothing: null, xAxis: 'step', previewAt: new Map(), version: 0 };
  window.diffuseBoard = { ready: false, charts: state.charts, get data() { return state.data; }, get version() { return state.version; } };

  // ---- formatting ----
  function fmt(v) {
    if (v === null || v === undefined || !Number.isFinite(v)) return '—';
    if (v === 0) return '0';
    const a = Math.abs(v);
    return a >= 1e5 || a < 1e-3 ? v.toExponential(4) : String(Number(v.toPrecision(5)));
  }
  // Axis labels: short, and blank where uPlot filtered a tick out (the minor ticks of a log axis).
  function tick(v) {
    return v === null || v === undefined || !Number.isFinite(v) ? '' : String(Number(v.toPrecision(4)));
  }
  function duration(s) {
    if (s === null || s === undefined || !Number.isFinite(s)) return '—';
    s = Math.round(s);
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    return h > 0 ? `${h}h ${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m ${String(sec).padStart(2, '0')}s` : `${sec}s`;
  }
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return e;
  }
  function table(head, rows, cls) {
    return el('table', { class: cls || '' }, el('thead', {}, el('tr', {}, ...head.map((h) => el('th', {}, h)))),
      el('tbody', {}, ...rows.map((r) => el('tr', {}, ...r.map((c) => el('td', {}, c))))));
  }

  // ---- smoothing: the same debiased EMA as src/report/smooth.ts ----
  function smooth(ys, weight, log) {
    const out = new Array(ys.length);
    let acc = 0, n = 0;
    for (let i = 0; i < ys.length; i++) {
      const y = ys[i];
      const v = y === null ? NaN : log ? Math.log10(y) : y;
      if (!Number.isFinite(v)) { out[i] = null; continue; }
      acc = acc * weight + (1 - weight) * v;
      n++;
      const d = acc / (1 - Math.pow(weight, n));
      out[i] = log ? Math.pow(10, d) : d;
    }
    return out;
  }
  function autoWeight(n) {
    const w = Math.max(1, n / 50);
    return Math.min(0.99, Math.max(0.6, 1 - 2 / (w + 1)));
  }
  function wantsLog(values) {
    let lo = Infinity, hi = -Infinity;
    for (const v of values) {
      if (v === null || !Number.isFinite(v)) continue;
      if (v <= 0) return false;
      lo = Math.min(lo, v); hi = Math.max(hi, v);
    }
    return Number.isFinite(lo) && hi / lo >= 10;
  }

  // ---- which charts: one per logged key, the timestep quartiles of a term together ----
  function chartGroups(runs) {
    const keys = new Set(), evalKeys = new Set();
    for (const r of runs) {
      for (const k of Object.keys(r.series)) if (!HIDDEN_KEYS.has(k)) keys.add(k);
      for (const k of Object.keys(r.evals)) if (!EVAL_HIDDEN.has(k)) evalKeys.add(k);
    }
    const groups = [];
    const take = (g) => { g.keys.forEach((k) => keys.delete(k)); groups.push(g); };
    for (const base of ['loss', 'mse', 'vb']) {
      if (keys.has(base)) take({ id: base, title: base, source: 'series', keys: [base], smooth: true });
      const q = [0, 1, 2, 3].map((i) => `${base}_q${i}`);
      if (q.some((k) => keys.has(k))) take({ id: `${base}_quartiles`, title: `${base} by timestep quartile (smoothed)`, source: 'series', keys: q, smooth: true, quartiles: true });
    }
    const named = { grad_norm: 'gradient norm', lr: 'learning rate', imgPerSec: 'images / second', skipped: 'skipped steps (non-finite loss)' };
    for (const k of Object.keys(named)) if (keys.has(k)) take({ id: k, title: named[k], source: 'series', keys: [k], smooth: k === 'grad_norm' });
    for (const k of [...keys].sort()) take({ id: k, title: k, source: 'series', keys: [k], smooth: false });
    const evalOrder = ['fid', 'kid', 'precision', 'recall'];
    const evals = [...evalKeys].sort((a, b) => (evalOrder.indexOf(a) + 1 || 99) - (evalOrder.indexOf(b) + 1 || 99));
    for (const k of evals) groups.push({ id: `eval_${k}`, title: `${k.toUpperCase()} (EMA model)`, source: 'evals', keys: [k], smooth: false, points: true });
    return groups;
  }

  // The x of each row: its step, or the minutes trained when it was logged (TensorBoard's
  // 'relative' axis); an evaluation row takes the time of the last training row at its step.
  function xsOf(run, cols) {
    if (state.xAxis === 'step') return cols.step;
    const steps = run.series.step || [], elapsed = run.series.elapsed || [];
    let j = 0;
    return cols.step.map((s) => {
      while (j + 1 < steps.length && steps[j + 1] <= s) j++;
      const e = steps[j] <= s ? elapsed[j] : null;
      return e === null || e === undefined ? null : e / 60;
    });
  }

  // The aligned table and series options of one chart: per run and key the raw values and, for
  // noisy series, a smoothed copy drawn over them.
  function chartData(group, runs) {
    const tables = [], series = [{ label: state.xAxis === 'step' ? 'step' : 'minutes' }];
    const multi = runs.length > 1;
    const all = [];
    runs.forEach((run, ri) => {
      const cols = run[group.source];
      if (!cols || !cols.step) return;
      const xAll = xsOf(run, cols);
      const keep = xAll.map((x) => x !== null);
      const xs = xAll.filter((_, i) => keep[i]);
      group.keys.forEach((k, ki) => {
        const ys = cols[k] ? cols[k].filter((_, i) => keep[i]) : null;
        if (!ys || ys.every((v) => v === null)) return;
        all.push(...ys);
        const color = group.keys.length > 1 ? QUARTILE_COLORS[ki % 4] : RUN_COLORS[ri % RUN_COLORS.length];
        const dash = multi && group.keys.length > 1 && ri > 0 ? [6, 3] : undefined;
        const T = run.config && run.config.diffusion ? run.config.diffusion.diffusionSteps : null;
        const range = T ? `t ∈ [${Math.ceil((ki * T) / 4)}, ${Math.ceil(((ki + 1) * T) / 4)})` : `t quartile ${ki + 1}`;
        const label = (multi ? `${run.name}: ` : '') + (group.quartiles ? range : k);
        tables.push({ xs, ys, label, color, dash, smooth: group.smooth, rawToo: !group.quartiles });
      });
    });
    const log = group.source === 'series' && wantsLog(all);
    const cols = [];
    for (const t of tables) {
      const w = state.smoothing === null ? autoWeight(t.xs.length) : state.smoothing;
      if (t.smooth && w > 0) {
        // Quartile charts draw only the smoothed curves: four raw ones per run hide each other.
        if (t.rawToo) {
          cols.push([t.xs, t.ys]);
          series.push({ label: t.label, stroke: t.color + '55', width: 1, dash: t.dash, spanGaps: true, value: (u, v) => fmt(v) });
        }
        cols.push([t.xs, smooth(t.ys, w, log)]);
        series.push({ label: t.rawToo ? `${t.label} (smoothed)` : t.label, stroke: t.color, width: 2, dash: t.dash, spanGaps: true, value: (u, v) => fmt(v) });
      } else {
        cols.push([t.xs, t.ys]);
        series.push({ label: t.label, stroke: t.color, width: 2, dash: t.dash, spanGaps: true, points: { show: group.points ? true : undefined, size: 6 }, value: (u, v) => fmt(v) });
      }
    }
    const data = cols.length === 1 ? cols[0] : cols.length > 0 ? uPlot.join(cols) : [[]];
    return { data, series, log, signature: series.map((s) => s.label).join('|') + (log ? '|log' : '') + state.xAxis };
  }

  function chartOptions(group, cd, width) {
    return {
      width, height: 260,
      series: cd.series,
      scales: { x: { time: false }, y: cd.log ? { distr: 3, log: 10 } : {} },
      axes: [
        { label: state.xAxis === 'step' ? 'step' : 'minutes trained', stroke: '#333', grid: { stroke: '#eee' } },
        { label: (group.quartiles ? group.id.replace('_quartiles', '') : group.keys[0]) + (cd.log ? ' (log scale)' : ''),
          stroke: '#333', grid: { stroke: '#eee' }, size: 70, values: (u, ticks) => ticks.map(tick) },
      ],
      cursor: { drag: { x: true, y: false }, sync: { key: 'diffuse-x', setSeries: false } },
      legend: { live: true },
    };
  }

  function drawCharts(root) {
    const runs = state.data.runs;
    const groups = chartGroups(runs);
    const seen = new Set();
    for (const g of groups) {
      seen.add(g.id);
      const cd = chartData(g, runs);
      const have = state.charts.get(g.id);
      if (have && have._sig === cd.signature) {
        // Keep the user's zoom; follow new steps only when the view shows the whole run.
        const xs = have.data[0], sx = have.scales.x;
        const whole = xs.length === 0 || (sx.min <= xs[0] && sx.max >= xs[xs.length - 1]);
        have.setData(cd.data, whole);
        continue;
      }
      let card = root.querySelector(`[data-chart="${g.id}"]`);
      if (!card) {
        card = el('div', { class: 'card chart', 'data-chart': g.id }, el('h3', {}, g.title));
        root.append(card);
      }
      if (have) { have.destroy(); }
      const width = Math.max(320, card.clientWidth - 24);
      const u = new uPlot(chartOptions(g, cd, width), cd.data, card);
      u._sig = cd.signature;
      u._group = g;
      state.charts.set(g.id, u);
    }
    for (const [id, u] of state.charts) if (!seen.has(id)) { u.destroy(); state.charts.delete(id); root.querySelector(`[data-chart="${id}"]`)?.remove(); }
  }

  // ---- the other views ----
  function lastOf(cols, key) {
    const ys = cols[key] || [];
    for (let i = ys.length - 1; i >= 0; i--) if (ys[i] !== null) return { v: ys[i], step: cols.step[i] };
    return null;
  }
  function summary() {
    const rows = state.data.runs.map((r) => {
      const step = lastOf(r.series, 'step'), loss = lastOf(r.series, 'loss'), ips = lastOf(r.series, 'imgPerSec'), el_ = lastOf(r.series, 'elapsed');
      const fid = lastOf(r.evals, 'fid');
      const done = step && r.stepsGoal !== null && step.v >= r.stepsGoal;
      return [r.name, step ? `${step.v.toLocaleString('en-US')}${r.stepsGoal !== null ? ` / ${r.stepsGoal.toLocaleString('en-US')}` : ''}` : '—',
        loss ? fmt(loss.v) : '—', ips ? fmt(ips.v) : '—', el_ ? duration(el_.v) : '—', done ? 'done' : duration(r.etaSeconds), fid ? `${fmt(fid.v)} @ ${fid.step}` : '—',
        new Date(r.updatedAt).toLocaleString()];
    });
    return table(['run', 'step', 'loss (last)', 'img/s', 'trained for', 'ETA', 'FID (last)', 'log updated'], rows, 'summary');
  }

  function previews(root) {
    // Rebuilt only when the set of grids changed, so that a live update keeps the images loaded.
    const sig = state.data.runs.map((r) => r.previews.map((p) => p.step).join(',')).join(';');
    if (root.dataset.sig === sig) return;
    root.dataset.sig = sig;
    root.replaceChildren();
    for (const [ri, r] of state.data.runs.entries()) {
      if (r.previews.length === 0) continue;
      const n = r.previews.length;
      const atEnd = !state.previewAt.has(ri) || state.previewAt.get(ri).atEnd;
      const idx = atEnd ? n - 1 : Math.min(state.previewAt.get(ri).idx, n - 1);
      const img = el('img', { class: 'preview', alt: `${r.name} preview`, src: r.previews[idx].src });
      const label = el('span', { class: 'preview-step' }, `step ${r.previews[idx].step.toLocaleString('en-US')}`);
      const show = (i) => {
        img.src = r.previews[i].src;
        label.textContent = `step ${r.previews[i].step.toLocaleString('en-US')}`;
        state.previewAt.set(ri, { idx: i, atEnd: i === n - 1 });
        slider.value = String(i);
        strip.querySelectorAll('img').forEach((t, j) => t.classList.toggle('on', j === i));
        reveal(i);
      };
      // Keeps the chosen thumbnail in the strip's view (the strip scrolls, the page does not).
      const reveal = (i) => {
        const t = strip.children[i];
        if (t) strip.scrollLeft = t.offsetLeft - strip.offsetLeft - strip.clientWidth / 2 + t.clientWidth / 2;
      };
      const slider = el('input', { type: 'range', min: '0', max: String(n - 1), value: String(idx), oninput: (e) => show(Number(e.target.value)) });
      const strip = el('div', { class: 'strip' }, ...r.previews.map((p, i) => el('img', { src: p.src, title: `step ${p.step}`, class: i === idx ? 'on' : '', onclick: () => show(i) })));
      root.append(el('div', { class: 'card' }, el('h3', {}, `${r.name}: samples of the EMA model (${n} previews)`), el('div', { class: 'preview-row' }, img, el('div', {}, label, slider)), strip));
      requestAnimationFrame(() => reveal(idx));
    }
    if (!root.firstChild) root.append(el('p', { class: 'muted' }, 'No preview grids yet (diffuse train --preview-interval N writes them).'));
  }

  function evalsAndCheckpoints() {
    const frag = document.createDocumentFragment();
    const evalRows = [];
    for (const r of state.data.runs) {
      const e = r.evals;
      (e.step || []).forEach((s, i) => evalRows.push([r.name, s, fmt(e.fid?.[i]), e.kid?.[i] != null ? `${fmt(e.kid[i])} ± ${fmt(e.kidStd?.[i])}` : '—', fmt(e.precision?.[i]), fmt(e.recall?.[i]), e.samples?.[i] ?? '—']));
    }
    frag.append(el('h2', {}, 'Evaluations'), evalRows.length ? table(['run', 'step', 'FID', 'KID', 'precision', 'recall', 'samples'], evalRows) : el('p', { class: 'muted' }, 'No evaluations (diffuse train --eval-interval N).'));
    const ck = [];
    for (const r of state.data.runs) for (const c of r.checkpoints) ck.push([r.name, c.step, c.dir]);
    frag.append(el('h2', {}, 'Checkpoints'), ck.length ? table(['run', 'step', 'folder'], ck) : el('p', { class: 'muted' }, 'No checkpoint yet.'));
    return frag;
  }

  function flatten(o, prefix, out) {
    for (const [k, v] of Object.entries(o || {})) {
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) flatten(v, `${prefix}${k}.`, out);
      else out[`${prefix}${k}`] = v;
    }
    return out;
  }
  function show(v) { return Array.isArray(v) ? v.join(', ') : v === null || v === undefined ? '—' : String(v); }
  function configView() {
    const frag = document.createDocumentFragment();
    const runs = state.data.runs;
    if (runs.length > 1) {
      frag.append(el('h2', {}, 'Config differences'), state.data.configDiff.length
        ? table(['key', ...runs.map((r) => r.name)], state.data.configDiff.map((d) => [d.key, ...d.values.map(show)]), 'diff')
        : el('p', { class: 'muted' }, 'The runs have the same config.'));
    }
    for (const r of runs) {
      const hw = r.hardware ? table(['machine', ''], Object.entries(r.hardware).map(([k, v]) => [k, show(v)])) : el('p', { class: 'muted' }, 'No hardware.json.');
      const cfg = table(['config', ''], Object.entries(flatten(r.config, '', {})).map(([k, v]) => [k, show(v)]));
      const d = el('details', runs.length === 1 ? { open: '' } : {}, el('summary', {}, `${r.name}: config and machine (${r.dir})`), el('div', { class: 'two' }, cfg, hw));
      frag.append(d);
    }
    return frag;
  }

  function render() {
    const d = state.data;
    document.title = `diffuse · ${d.runs.map((r) => r.name).join(' vs ')}`;
    document.getElementById('title').textContent = `diffuse · ${d.runs.map((r) => r.name).join(' vs ')}`;
    document.getElementById('status').textContent = d.live
      ? `live · data of ${new Date(d.generatedAt).toLocaleString()}`
      : `snapshot of ${new Date(d.generatedAt).toLocaleString()} · live view: diffuse board ${d.runs.map((r) => r.dir).join(' ')}`;
    document.getElementById('summary').replaceChildren(summary());
    drawCharts(document.getElementById('charts'));
    previews(document.getElementById('previews'));
    document.getElementById('tables').replaceChildren(evalsAndCheckpoints());
    document.getElementById('config').replaceChildren(configView());
    state.version++;
    window.diffuseBoard.ready = true;
  }

  function controls() {
    const out = el('span', { class: 'muted' }, 'auto');
    const slider = el('input', { type: 'range', min: '0', max: '0.99', step: '0.01', value: '0.6', id: 'smoothing', oninput: (e) => {
      state.smoothing = Number(e.target.value);
      out.textContent = state.smoothing.toFixed(2);
      drawCharts(document.getElementById('charts'));
    } });
    const axis = el('select', { id: 'x-axis', onchange: (e) => {
      state.xAxis = e.target.value;
      drawCharts(document.getElementById('charts'));
    } }, el('option', { value: 'step' }, 'step'), el('option', { value: 'time' }, 'time trained'));
    document.getElementById('controls').replaceChildren(el('label', {}, 'smoothing ', slider, ' ', out), el('label', {}, ' · x axis ', axis),
      el('span', { class: 'muted' }, ' · drag on a chart to zoom, double-click to reset; hover for values'));
  }

  function follow() {
    if (!state.data.live || typeof EventSource === 'undefined') return;
    const es = new EventSource('events');
    es.addEventListener('update', () => {
      fetch('data.json', { cache: 'no-store' }).then((r) => r.json()).then((d) => { state.data = d; render(); }).catch(() => undefined);
    });
    es.onerror = () => { document.getElementById('status').textContent = 'disconnected from diffuse board (retrying)'; };
  }

  window.addEventListener('resize', () => {
    for (const u of state.charts.values()) {
      const card = u.root.parentElement;
      u.setSize({ width: Math.max(320, card.clientWidth - 24), height: 260 });
    }
  });

  state.data = JSON.parse(document.getElementById('board-data').textContent);
  controls();
  render();
  follow();
})();
