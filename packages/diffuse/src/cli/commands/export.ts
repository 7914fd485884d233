// `diffuse export --checkpoint M --format onnx --out model.onnx`: the denoiser as a standard ONNX
// graph (opset 17, dynamic batch and size) with the diffusion config in its metadata.
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';

import { onnxMetadata } from '../../export/metadata.js';
import { unetToOnnx } from '../../export/unet-onnx.js';
import { writeFileAtomicSync } from '../../io/atomic.js';
import { loadPipeline } from '../../pipeline/load.js';
import { UsageError } from '../args.js';
import type { Command } from '../main.js';
import { emaOption } from './sample.js';

export const FORMATS = ['onnx'] as const;

export const command: Command = {
  spec: {
    name: 'export',
    summary: 'write a checkpoint’s denoiser as an ONNX model (opset 17) for other runtimes',
    usage: 'diffuse export --checkpoint M --format onnx --out model.onnx [--ema RATE|none]',
    flags: [
      { key: 'checkpoint', type: 'string', help: "a training output folder, a checkpoint directory, or a shipped model name (e.g. 'digits-cpu')" },
      { key: 'format', type: 'string', choices: FORMATS, help: 'what to write: onnx (one .onnx file)', defaultText: 'onnx' },
      { key: 'out', type: 'string', help: 'output file (.onnx)' },
      { key: 'ema', type: 'string', help: "EMA rate to export, or 'none' for the raw weights", defaultText: 'the first EMA rate' },
    ],
  },
  async run(args) {
    const f = args.flags;
    if (f.checkpoint === undefined || f.out === undefined) throw new UsageError("'diffuse export' needs --checkpoint M and --out FILE");
    const out = f.out as string;
    if (!out.toLowerCase().endsWith('.onnx')) throw new UsageError(`--out ${out}: an ONNX model is one file; give a path ending in .onnx`);
    const dir = path.dirname(path.resolve(out));
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`--out ${out}: folder ${dir} does not exist; create it first`);
    const pipe = loadPipeline(f.checkpoint as string, { ema: emaOption(f.ema), precision: 'fp32' });
    const bytes = unetToOnnx(pipe.model, { metadata: onnxMetadata(pipe.config, pipe.model.config) });
    writeFileAtomicSync(out, bytes);
    const c = pipe.model.config;
    console.log(
      `wrote ${out} (${(bytes.length / 1e6).toFixed(2)} MB, opset 17): inputs x (B, ${c.inChannels}, H, W) float32, t (B,) float32` +
        `${c.numClasses !== null ? `, y (B,) int64 (null class ${c.numClasses})` : ''}; output out (B, ${pipe.model.outputChannels}, H, W)` +
        ` — from ${pipe.dir}${pipe.emaRate !== null ? ` (EMA ${pipe.emaRate})` : ''}`,
    );
    return 0;
  },
};
