// `diffuse edit`: SDEdit / img2img on an image or a folder of frames (optionally with cross-frame
// attention so the frames stay consistent; or attending to a --reference image's K/V) → images/,
// grid.png (inputs over outputs), frames.gif.
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';

import { withAttnProcessors } from '../../edit/attn-scope.js';
import { withReferenceAttention } from '../../edit/reference.js';
import { sdedit } from '../../edit/sdedit.js';
import { CrossFrameAttnProcessor } from '../../models/attn-processors-edit.js';
import type { AttnProcessor } from '../../models/attn-processor.js';
import type { HasAttnProcessors } from '../../edit/attn-scope.js';
import { UsageError, type FlagValue } from '../args.js';
import { checkOut, readInputImages, writeEditOutputs } from '../edit-io.js';
import { editSampleOptions, OUT_AND_MACHINE_FLAGS, startEditCommand } from '../edit-flags.js';
import type { Command } from '../main.js';
import { Progress } from '../progress.js';
import { checkClamp, loadSamplingPipeline, samplerChoice, SAMPLING_FLAGS } from './sample.js';

/**
 * The layers --cross-frame-layers names: 'up' (the decoder, output_blocks.*; the default), 'all',
 * or module paths.
 * @throws UsageError for a path that is no attention layer, or a selection with no layer in it.
 */
export function crossFrameLayers(model: HasAttnProcessors, spec: string[] | undefined): string[] {
  const known = [...model.attnProcessors.keys()];
  const which = spec ?? ['up'];
  let paths: string[];
  if (which.length === 1 && which[0] === 'up') paths = known.filter((p) => p.startsWith('output_blocks.'));
  else if (which.length === 1 && which[0] === 'all') paths = known;
  else {
    for (const p of which) if (!known.includes(p)) throw new UsageError(`--cross-frame-layers: no attention layer '${p}' (the model has: ${known.join(', ') || 'none'})`);
    paths = which;
  }
  if (paths.length === 0) {
    throw new UsageError(`--cross-frame-layers ${which.join(',')}: this model has no attention layer there (it has: ${known.join(', ') || 'none'}); use 'all' or name them`);
  }
  return paths;
}

/** Mean |x_{i+1} − x_i| over consecutive images (frames) (B, C, H, W), or 0 for one image. */
export function meanFrameChange(x: Tensor): number {
  const n = x.size(0);
  if (n < 2) return 0;
  return torch.tidy(() => x.narrow(0, 1, n - 1).sub(x.narrow(0, 0, n - 1)).abs().mean().item());
}

function strength(f: Record<string, FlagValue>): number {
  const s = f.strength as number | undefined;
  if (s === undefined) throw new UsageError("'diffuse edit' needs --strength s (0 keeps the input, 1 starts from noise)");
  if (!(s >= 0 && s <= 1)) throw new UsageError(`--strength: must be in [0, 1], got ${s}`);
  return s;
}

export const command: Command = {
  spec: {
    name: 'edit',
    summary: 'SDEdit (img2img): noise an image or a folder of frames to a strength, denoise with any sampler',
    usage: 'diffuse edit --checkpoint DIR|NAME --input IMG|DIR --strength S --out DIR [--sampler S] [--steps N] [--cross-frame]',
    flags: [
      ...SAMPLING_FLAGS,
      { key: 'input', type: 'string', help: 'an image, or a folder of frames (edited as one sequence, in name order)', group: 'Edit' },
      { key: 'strength', type: 'float', help: 'how far into the forward process the input goes, in [0, 1] (t₀ = s·T); steps count from there' },
      { key: 'crossFrame', type: 'bool', help: 'frames attend to the first and the previous frame (consistent sequences)', defaultText: 'false' },
      { key: 'crossFrameLayers', type: 'strings', help: "where cross-frame attention goes: 'up' (decoder), 'all', or layer paths (e.g. middle_block.1)", defaultText: 'up' },
      { key: 'reference', type: 'string', help: "an image whose self-attention keys and values the edit attends to (K/V injection: the reference is edited alike first)" },
      { key: 'sharedNoise', type: 'bool', help: 'noise every frame with the same draw', defaultText: 'false' },
      ...OUT_AND_MACHINE_FLAGS,
    ],
  },
  async run(args) {
    const f = args.flags;
    const device = startEditCommand(f, 'edit', { input: '--input IMG|DIR' });
    const s = strength(f);
    const out = checkOut(f.out as string | undefined, 'edit', 'grid.png');
    if (f.crossFrameLayers !== undefined && f.crossFrame !== true) throw new UsageError('--cross-frame-layers applies only with --cross-frame');
    if (f.reference !== undefined && f.crossFrame === true) throw new UsageError('--reference and --cross-frame replace the same attention: choose one');
    const choice = samplerChoice(f);
    const pipe = loadSamplingPipeline(f, device, { command: 'diffuse edit' });
    checkClamp(pipe, choice);
    const layers = f.crossFrame === true ? crossFrameLayers(pipe.model, f.crossFrameLayers as string[] | undefined) : [];
    const { imageSize: size, channels } = pipe.config.model;
    const inputs = await readInputImages(f.input as string, size, channels, '--input');
    const n = inputs.files.length;
    if (f.crossFrame === true && n < 2) throw new UsageError('--cross-frame needs a folder of at least two frames');
    const progress = new Progress('edit');
    const options = editSampleOptions(pipe, f, n, progress);
    const x = inputs.x.to(pipe.device).keep(); // (N, C, H, W)
    const noise = f.sharedNoise === true ? torch.randn([1, channels, size, size], { generator: options.generator }).expand([n, channels, size, size]).contiguous().keep() : undefined;
    const t0 = Date.now();
    const edit = (): Tensor => sdedit(pipe.spec, x, { ...options, strength: s, noise });
    const cross: Record<string, AttnProcessor> = Object.fromEntries(layers.map((p) => [p, new CrossFrameAttnProcessor(n)]));
    let edited: () => Tensor = layers.length > 0 ? () => withAttnProcessors(pipe.model, cross, edit) : edit;
    let referenceImage: Tensor | undefined;
    if (f.reference !== undefined) {
      const ref = await readInputImages(f.reference as string, size, channels, '--reference');
      if (ref.files.length !== 1) throw new UsageError(`--reference ${String(f.reference)}: give one image, not a folder`);
      referenceImage = ref.x;
      const refX = ref.x; // (1, C, H, W), on the CPU where the model is (moved per pass otherwise)
      // The reference pass: the same sampler, steps and strength (its own noise), labels of the first image.
      const refOptions = { ...editSampleOptions(pipe, f, 1), strength: s, generator: new torch.Generator({ seed: ((f.seed as number | undefined) ?? 0) + 1 }) };
      const plain = edited;
      edited = () => withReferenceAttention(pipe.model, () => torch.tidy(() => sdedit(pipe.spec, refX.to(pipe.device), refOptions).dispose()), plain);
    }
    const y = edited().to('cpu').keep(); // (N, C, H, W)
    progress.clear();
    const secs = (Date.now() - t0) / 1000;
    const rows = referenceImage ? [inputs.x, referenceImage.expand(inputs.x.shape).contiguous(), y] : [inputs.x, y];
    const written = await writeEditOutputs(out, { images: y, gridRows: rows, gif: n > 1 ? 'frames.gif' : undefined });
    const how = layers.length > 0 ? `, cross-frame attention on ${layers.join(', ')}` : f.reference !== undefined ? ", K/V of --reference on every attention layer" : '';
    console.log(`${n} image${n > 1 ? 's' : ''} edited at strength ${s} in ${secs.toFixed(1)} s (${options.sampler}${how})`);
    if (n > 1) {
      const ratio = meanFrameChange(y) / Math.max(meanFrameChange(inputs.x), 1e-12);
      console.log(`frame change (mean |Δ| between consecutive outputs / inputs): ${ratio.toFixed(3)}`);
    }
    for (const w of written) console.log(`wrote ${w}`);
    torch.dispose([x, y, inputs.x, ...(noise ? [noise] : []), ...(referenceImage ? [referenceImage] : []), ...Object.values(options.modelKwargs ?? {}).filter((t): t is Tensor => t !== undefined)]);
    return 0;
  },
};
