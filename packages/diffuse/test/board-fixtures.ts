// Run folders for the plot, report and board tests: a synthetic one written directly (fast, with
// known values) and a real one trained by the CLI (what users get).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { defaultConfig } from '../src/train/config.js';
import { writePng } from '../src/io/png.js';
import { parseLog, type RunData } from '../src/report/run-folder.js';

/** A fresh temporary folder, removed when the test process exits. */
export function tempDir(tag: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), `diffuse-${tag}-`));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Log rows of a loss that falls from ~2 to ~0.05 over 1,000 steps, with quartiles. */
export function syntheticLog(steps = 100): string {
  const lines: string[] = [];
  for (let i = 1; i <= steps; i++) {
    const step = i * 10;
    const loss = 2 * Math.exp(-step / 200) + 0.05 + 0.01 * Math.sin(i);
    const row: Record<string, number> = { step, examples: step * 8, lr: 2e-4, imgPerSec: 100 + (i % 7), elapsed: i * 0.5, grad_norm: 1 + 1 / i, loss };
    for (let q = 0; q < 4; q++) row[`loss_q${q}`] = loss * (1.6 - 0.3 * q);
    lines.push(JSON.stringify(row));
    if (step % 500 === 0) lines.push(JSON.stringify({ step, eval: true, fid: 200 / (step / 100), kid: 20 / (step / 100), kidStd: 0.5, precision: step / 2000, recall: step / 3000, samples: 50 }));
  }
  return lines.join('\n') + '\n';
}

/**
 * Writes a run folder as `diffuse train` leaves it: config.json, log.jsonl, two previews.
 * @param dir the folder (made if missing).
 * @param lr the config's learning rate (to make two runs differ).
 */
export async function writeSyntheticRun(dir: string, lr = 2e-4, steps = 100): Promise<void> {
  mkdirSync(path.join(dir, 'previews'), { recursive: true });
  const cfg = defaultConfig();
  cfg.optim.lr = lr;
  cfg.run.steps = steps * 10;
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg, null, 2));
  writeFileSync(path.join(dir, 'log.jsonl'), syntheticLog(steps));
  for (const step of [500, 1000]) {
    const data = new Uint8Array(16 * 16).map((_, i) => (i * step) % 251);
    await writePng(path.join(dir, 'previews', `step-${String(step).padStart(7, '0')}.png`), { data, width: 16, height: 16, channels: 1 });
  }
}

/** The synthetic run as readRunFolder would return it (no files needed). */
export function syntheticRun(name = 'synthetic'): RunData {
  const cfg = defaultConfig();
  cfg.run.steps = 1000;
  const { rows, evals } = parseLog(syntheticLog());
  return {
    name, dir: `/runs/${name}`, config: cfg as unknown as Record<string, unknown>, hardware: null, rows, evals,
    previews: [], checkpoints: [], stepsGoal: 1000, budgetSeconds: Infinity, etaSeconds: null, updatedAt: 0,
  };
}
