// `diffuse inpaint`: fill the white region of --mask in --input with the model (the known pixels
// put back at every step; RePaint's resampling jumps with --resamples) → images/, grid.png
// (input, masked input, outputs), n variations.
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';

import { inpaint } from '../../edit/inpaint.js';
import { UsageError } from '../args.js';
import { checkOut, readInputImages, readMask, writeEditOutputs } from '../edit-io.js';
import { editSampleOptions, OUT_AND_MACHINE_FLAGS, startEditCommand } from '../edit-flags.js';
import type { Command } from '../main.js';
import { Progress } from '../progress.js';
import { checkClamp, loadSamplingPipeline, samplerChoice, SAMPLING_FLAGS } from './sample.js';

export const command: Command = {
  spec: {
    name: 'inpaint',
    summary: "fill the masked region of an image (replacement at every step; RePaint's resampling jumps as an option)",
    usage: 'diffuse inpaint --checkpoint DIR|NAME --input IMG --mask MASK --out DIR [--n 8] [--sampler S] [--resamples R --jump-length J]',
    flags: [
      ...SAMPLING_FLAGS,
      { key: 'input', type: 'string', help: 'the image', group: 'Inpaint' },
      { key: 'mask', type: 'string', help: "an image of the input's size: white = generate, black = keep" },
      { key: 'n', type: 'int', min: 1, max: 256, help: 'variations to draw', defaultText: '8' },
      { key: 'resamples', type: 'int', min: 1, max: 100, help: "RePaint's r: each stretch of steps is run r times (1 = no resampling; ddpm and ddim)", defaultText: '1' },
      { key: 'jumpLength', type: 'int', min: 1, help: "RePaint's j: steps per stretch before jumping back", defaultText: '10' },
      ...OUT_AND_MACHINE_FLAGS,
    ],
  },
  async run(args) {
    const f = args.flags;
    const device = startEditCommand(f, 'inpaint', { input: '--input IMG', mask: '--mask MASK' });
    const out = checkOut(f.out as string | undefined, 'inpaint', 'grid.png');
    const choice = samplerChoice(f);
    const resamples = (f.resamples as number | undefined) ?? 1;
    const sampler = choice.sampler ?? 'ddim';
    if (resamples > 1 && sampler !== 'ddpm' && sampler !== 'ddim') throw new UsageError(`--resamples: RePaint's jumps need --sampler ddpm or ddim, not ${sampler}`);
    if (f.jumpLength !== undefined && resamples === 1) throw new UsageError('--jump-length applies only with --resamples > 1');
    const pipe = loadSamplingPipeline(f, device, { command: 'diffuse inpaint' });
    checkClamp(pipe, choice);
    const { imageSize: size, channels } = pipe.config.model;
    const input = await readInputImages(f.input as string, size, channels, '--input');
    if (input.files.length !== 1) throw new UsageError(`--input ${String(f.input)}: give one image, not a folder`);
    const mask = await readMask(f.mask as string, input.files[0]!, size); // (1, 1, S, S)
    const n = (f.n as number | undefined) ?? 8;
    const progress = new Progress('inpaint');
    const options = editSampleOptions(pipe, f, n, progress);
    const t0 = Date.now();
    const x = input.x.expand([n, channels, size, size]).contiguous().to(pipe.device).keep(); // (N, C, H, W)
    const y = inpaint(pipe.spec, x, {
      ...options, mask: mask.to(pipe.device), resample: { jumpLength: (f.jumpLength as number | undefined) ?? 10, resamples },
    }).to('cpu').keep(); // (N, C, H, W)
    progress.clear();
    const secs = (Date.now() - t0) / 1000;
    // The masked input shows the hole in mid gray (0 in [−1, 1]).
    const masked = torch.tidy(() => input.x.mul(mask.rsub(1)).expand([n, channels, size, size]).contiguous()).keep();
    const shown = input.x.expand([n, channels, size, size]).contiguous().keep();
    const written = await writeEditOutputs(out, { images: y, gridRows: [shown, masked, y] });
    console.log(`${n} inpaintings in ${secs.toFixed(1)} s (${sampler}${resamples > 1 ? `, RePaint r = ${resamples}, j = ${(f.jumpLength as number | undefined) ?? 10}` : ''})`);
    for (const w of written) console.log(`wrote ${w}`);
    torch.dispose([x, y, mask, masked, shown, input.x, ...Object.values(options.modelKwargs ?? {}).filter((t): t is Tensor => t !== undefined)]);
    return 0;
  },
};
