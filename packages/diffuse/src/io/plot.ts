// A loss curve as a PNG, drawn into a raw image (no fonts needed): log-scale y, one gridline per
// decade, the raw series in light blue and its running mean in dark blue.
import type { RawImage } from './raw-image.js';

export interface PlotOptions {
  width?: number;
  height?: number;
  /** Window of the running mean, in points (default: a 50th of the series, at least 1). */
  smooth?: number;
}

function setPixel(img: RawImage, x: number, y: number, rgb: [number, number, number]): void {
  if (x < 0 || y < 0 || x >= img.width || y >= img.height) return;
  const o = (y * img.width + x) * 3;
  img.data[o] = rgb[0];
  img.data[o + 1] = rgb[1];
  img.data[o + 2] = rgb[2];
}

function line(img: RawImage, x0: number, y0: number, x1: number, y1: number, rgb: [number, number, number]): void {
  const n = Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0), 1);
  for (let i = 0; i <= n; i++) setPixel(img, Math.round(x0 + ((x1 - x0) * i) / n), Math.round(y0 + ((y1 - y0) * i) / n), rgb);
}

/**
 * Plots y against x (e.g. loss against step).
 * @returns an RGB RawImage; non-positive or non-finite values are skipped.
 */
export function plotSeries(xs: number[], ys: number[], options: PlotOptions = {}): RawImage {
  const width = options.width ?? 640;
  const height = options.height ?? 360;
  const img: RawImage = { data: new Uint8Array(width * height * 3).fill(255), width, height, channels: 3 };
  const pts = xs.map((x, i) => [x, ys[i]!] as const).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && y > 0);
  const margin = 20;
  line(img, margin, height - margin, width - margin, height - margin, [0, 0, 0]);
  line(img, margin, margin, margin, height - margin, [0, 0, 0]);
  if (pts.length === 0) return img;
  const xMin = pts[0]![0];
  const xMax = Math.max(pts[pts.length - 1]![0], xMin + 1);
  const logs = pts.map(([, y]) => Math.log10(y));
  const lo = Math.floor(Math.min(...logs));
  const hi = Math.max(Math.ceil(Math.max(...logs)), lo + 1);
  const px = (x: number): number => margin + ((x - xMin) / (xMax - xMin)) * (width - 2 * margin);
  const py = (ly: number): number => height - margin - ((ly - lo) / (hi - lo)) * (height - 2 * margin);
  for (let d = lo; d <= hi; d++) line(img, margin + 1, Math.round(py(d)), width - margin, Math.round(py(d)), [225, 225, 225]);
  const raw: [number, number, number] = [160, 190, 240];
  const mean: [number, number, number] = [20, 60, 160];
  for (let i = 1; i < pts.length; i++) line(img, px(pts[i - 1]![0]), py(logs[i - 1]!), px(pts[i]![0]), py(logs[i]!), raw);
  const w = options.smooth ?? Math.max(1, Math.round(pts.length / 50));
  let acc = 0;
  const smooth = logs.map((l, i) => {
    acc += l - (i >= w ? logs[i - w]! : 0);
    return acc / Math.min(i + 1, w);
  });
  for (let i = 1; i < pts.length; i++) line(img, px(pts[i - 1]![0]), py(smooth[i - 1]!), px(pts[i]![0]), py(smooth[i]!), mean);
  return img;
}
