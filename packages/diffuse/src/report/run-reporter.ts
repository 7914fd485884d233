// Keeps OUT/loss.png and OUT/report.html up to date while `diffuse train` runs. Both are
// rebuilt from the folder itself (so they show exactly what log.jsonl holds), written atomically
// (a reader, or a kill -9, never meets half a file), and throttled so that drawing costs the
// training at most ~2 % of its time: rendering runs on the training thread.
import { existsSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import path from 'node:path';

import { writeFileAtomic, writeFileAtomicSync } from '../io/atomic.js';
import { writeLossPlot } from './loss-plot.js';
import { buildReportData } from './report-data.js';
import { renderReportHtml } from './report-html.js';
import { readRunFolder, type Hardware } from './run-folder.js';

/** Shortest time between two refreshes, whatever they cost. */
const MIN_INTERVAL_MS = 5_000;
/** A refresh that took t ms waits this many times t before the next one (≈ 2 % overhead). */
const COST_FACTOR = 50;

/**
 * Writes OUT/hardware.json: the machine the run trains on, for the dashboard.
 * @param out the training output folder.
 * @param info what only the caller knows: threads, device and precision.
 */
export function writeHardware(out: string, info: { threads: number; device: string; precision: string }): void {
  const cpu = cpus();
  const hw: Hardware = {
    cpu: cpu[0]?.model.trim() ?? 'unknown',
    cores: cpu.length,
    threads: info.threads,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    platform: `${process.platform} ${process.arch}`,
    node: process.version,
    device: info.device,
    precision: info.precision,
    startedAt: new Date().toISOString(),
  };
  writeFileAtomicSync(path.join(out, 'hardware.json'), JSON.stringify(hw, null, 2) + '\n');
}

export class RunReporter {
  private nextAt = 0;
  private running: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private warned = false;
  /** Set by finish(): a poke still queued behind a refresh must not start another. */
  private closed = false;

  private readonly minIntervalMs: number;
  private readonly costFactor: number;

  /**
   * @param out the training output folder.
   * @param onError told once about a failed refresh (training goes on: the files are a view).
   * @param intervalMs a fixed time between refreshes instead of the cost-based throttle (tests
   *   that watch the files change; `DIFFUSE_REPORT_INTERVAL_MS` for the CLI).
   */
  constructor(
    private readonly out: string,
    private readonly onError: (e: unknown) => void = () => undefined,
    intervalMs?: number,
  ) {
    this.minIntervalMs = intervalMs ?? MIN_INTERVAL_MS;
    this.costFactor = intervalMs === undefined ? COST_FACTOR : 0;
  }

  /** Asks for a refresh: now when the throttle allows, else once it does (one is kept waiting). */
  poke(): void {
    if (this.closed || this.timer !== null) return;
    const wait = Math.max(0, this.nextAt - Date.now());
    const start = (): void => {
      this.timer = null;
      if (this.closed) return;
      if (this.running !== null) return void this.running.then(() => this.poke());
      this.running = this.refresh().finally(() => {
        this.running = null;
      });
    };
    if (wait === 0 && this.running === null) start();
    else {
      this.timer = setTimeout(start, wait);
      this.timer.unref();
    }
  }

  /** Waits for a refresh under way, then writes both files once more with everything logged. */
  async finish(): Promise<void> {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
    await this.refresh();
  }

  private async refresh(): Promise<void> {
    const t0 = Date.now();
    try {
      if (!existsSync(path.join(this.out, 'log.jsonl'))) return; // nothing logged yet (or --log-interval 0)
      const run = readRunFolder(this.out);
      if (run.rows.length > 0) await writeLossPlot(run, path.join(this.out, 'loss.png'));
      await writeFileAtomic(path.join(this.out, 'report.html'), renderReportHtml(buildReportData([run])));
    } catch (e) {
      // Best effort: a full disk is reported by the checkpoint that follows, not by a view.
      if (!this.warned) this.onError(e);
      this.warned = true;
    }
    this.nextAt = Date.now() + Math.max(this.minIntervalMs, this.costFactor * (Date.now() - t0));
  }
}
