// `diffuse export --checkpoint M --format onnx --out model.onnx`: the denoiser as a standard ONNX
// graph (opset 17, dynamic batch and size) with the diffusion config in its metadata;
// `--format web --out SITE`: a static page that samples the model in the browser.
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { onnxMetadata } from '../../export/metadata.js';
import { unetToOnnx } from '../../export/unet-onnx.js';
import { writeFileAtomicSync, writeFolderAtomic } from '../../io/atomic.js';
import { buildWebSite } from '../../export/web-site.js';
import { loadPipeline, type Pipeline } from '../../pipeline/load.js';
import { requireUNet } from '../../train/factory.js';
import type { UNet } from '../../models/index.js';
import { UsageError } from '../args.js';
import type { Command } from '../main.js';
import { emaOption } from './sample.js';

export const FORMATS = ['onnx', 'web'] as const;

export const command: Command = {
  spec: {
    name: 'export',
    summary: 'write a checkpoint’s denoiser as an ONNX model (opset 17), or as a page that samples it in the browser',
    usage: 'diffuse export --checkpoint M --format onnx --out model.onnx | --format web --out SITE/ [--ema RATE|none] [--title TEXT]',
    flags: [
      { key: 'checkpoint', type: 'string', help: "a training output folder, a checkpoint directory, or a shipped model name (e.g. 'digits-cpu')" },
      { key: 'format', type: 'string', choices: FORMATS, help: 'what to write: onnx (one .onnx file) or web (a folder: index.html, the model, ONNX Runtime Web; serve it with `diffuse serve`)', defaultText: 'onnx' },
      { key: 'out', type: 'string', help: 'output file (.onnx), or folder for --format web' },
      { key: 'title', type: 'string', help: 'the page title (--format web)', defaultText: 'the checkpoint folder name' },
      { key: 'ema', type: 'string', help: "EMA rate to export, or 'none' for the raw weights", defaultText: 'the first EMA rate' },
    ],
  },
  async run(args) {
    const f = args.flags;
    if (f.checkpoint === undefined || f.out === undefined) throw new UsageError("'diffuse export' needs --checkpoint M and --out FILE");
    const out = f.out as string;
    const format = (f.format as (typeof FORMATS)[number] | undefined) ?? 'onnx';
    if (format === 'web') return exportWeb(f.checkpoint as string, out, emaOption(f.ema), f.title as string | undefined);
    if (f.title !== undefined) throw new UsageError('--title applies to --format web');
    if (!out.toLowerCase().endsWith('.onnx')) throw new UsageError(`--out ${out}: an ONNX model is one file; give a path ending in .onnx`);
    const dir = path.dirname(path.resolve(out));
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`--out ${out}: folder ${dir} does not exist; create it first`);
    const pipe = loadPipeline(f.checkpoint as string, { ema: emaOption(f.ema), precision: 'fp32' });
    const unet = exportableUNet(pipe);
    const bytes = unetToOnnx(unet, { metadata: onnxMetadata(pipe.config, unet.config) });
    writeFileAtomicSync(out, bytes);
    const c = unet.config;
    console.log(
      `wrote ${out} (${(bytes.length / 1e6).toFixed(2)} MB, opset 17): inputs x (B, ${c.inChannels}, H, W) float32, t (B,) float32` +
        `${c.numClasses !== null ? `, y (B,) int64 (null class ${c.numClasses})` : ''}; output out (B, ${unet.outputChannels}, H, W)` +
        ` — from ${pipe.dir}${pipe.emaRate !== null ? ` (EMA ${pipe.emaRate})` : ''}`,
    );
    return 0;
  },
};

/** --format web: the site folder, written whole or not at all (an earlier site may be replaced). */
async function exportWeb(checkpoint: string, out: string, ema: number | 'none' | undefined, title: string | undefined): Promise<number> {
  if (existsSync(out) && (!statSync(out).isDirectory() || (readdirSync(out).length > 0 && !existsSync(path.join(out, 'model.onnx'))))) {
    throw new UsageError(`--out ${out}: exists and is not an earlier exported site; choose another folder`);
  }
  const pipe = loadPipeline(checkpoint, { ema, precision: 'fp32' });
  const files = buildWebSite(exportableUNet(pipe), pipe.config, title ?? `${path.basename(pipe.dir)} — diffuse sampler`);
  await writeFolderAtomic(out, async (tmp) => {
    for (const [rel, bytes] of files) {
      mkdirSync(path.dirname(path.join(tmp, rel)), { recursive: true });
      writeFileSync(path.join(tmp, rel), bytes);
    }
  });
  const mb = (rel: string): string => (files.get(rel)!.length / 1e6).toFixed(2);
  console.log(`wrote ${out}/ (index.html, model.onnx ${mb('model.onnx')} MB, ONNX Runtime Web ${mb('ort/ort-wasm-simd-threaded.jsep.wasm')} MB wasm) from ${pipe.dir}${pipe.emaRate !== null ? ` (EMA ${pipe.emaRate})` : ''}`);
  console.log(`open it with: diffuse serve ${out}   (serves with the headers that give the wasm its threads)`);
  return 0;
}

/** The UNet a pipeline samples with: DiT and latent (autoencoder) models are not exported yet (docs/export.md). */
function exportableUNet(pipe: Pipeline): UNet {
  if (pipe.decode !== undefined) throw new UsageError(`${pipe.dir}: a latent diffusion model; exporting its autoencoder's decoder is not supported yet — export works for pixel-space UNets`);
  return requireUNet(pipe.model, 'ONNX export');
}
