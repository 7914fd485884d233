// Progress on the terminal: a one-line bar with ETA when stderr is a TTY, nothing otherwise (the
// commands print plain lines at their log intervals instead).

function clock(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

export class Progress {
  private last = 0;
  readonly enabled: boolean;
  constructor(private readonly label: string, enabled = process.stderr.isTTY === true && !process.env.CI) {
    this.enabled = enabled;
  }

  /**
   * @param fraction done, in [0, 1]
   * @param elapsed seconds so far
   * @param detail text after the bar
   */
  update(fraction: number, elapsed: number, detail = ''): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.last < 100 && fraction < 1) return;
    this.last = now;
    const f = Math.min(1, Math.max(0, fraction));
    const width = 24;
    const filled = Math.round(f * width);
    const eta = f > 0 ? (elapsed * (1 - f)) / f : NaN;
    const line = `${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(f * 100).toFixed(0).padStart(3)}% ${detail} ETA ${clock(eta)}`;
    const cols = process.stderr.columns ?? 100;
    process.stderr.write(`\r${line.slice(0, cols - 1).padEnd(Math.min(cols - 1, line.length))}`);
  }

  /** Clears the bar so ordinary lines can follow. */
  clear(): void {
    if (!this.enabled) return;
    process.stderr.write(`\r${' '.repeat((process.stderr.columns ?? 100) - 1)}\r`);
  }
}

export { clock };
