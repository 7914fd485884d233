// ControlNet runs on the ordinary training loop: the base's weights in, a ControlNet attached as
// the UNet's child 'controlnet' (so the loop trains, averages and saves exactly its parameters),
// the loss calling base + ControlNet with each batch's control map. On disk the ControlNet alone:
// OUT/controlnet.safetensors, with its control kind and the base's hash in the metadata.
import { statSync } from 'node:fs';
import path from 'node:path';

import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';

import { controlMap } from '../control/maps.js';
import type { ModelFn, ModelKwargs } from '../diffusion/enums.js';
import { ControlNet } from '../models/controlnet.js';
import type { UNet } from '../models/unet.js';
import { CheckpointError, loadCheckpoint } from '../train/checkpoint.js';
import type { ControlNetRunConfig } from '../train/config.js';
import { baseModelHash } from './lora-file.js';

export const CONTROLNET_FILE = 'controlnet.safetensors';
const FORMAT = 'diffuse-controlnet';
const CHILD = 'controlnet';

/** The ControlNet attached to a UNet by controlNetPreparer, or null. */
export function attachedControlNet(model: UNet): ControlNet | null {
  const child = model.namedChildren().find(([n]) => n === CHILD)?.[1];
  return child instanceof ControlNet ? child : null;
}

/**
 * The trainer's prepareModel for a ControlNet run: base weights in, a fresh ControlNet (encoder
 * copied from the base, zero joins) attached, everything else frozen.
 */
export function controlNetPreparer(baseWeights: Map<string, Tensor>, cfg: ControlNetRunConfig): (model: UNet) => void {
  return (model) => {
    model.loadStateDict(baseWeights);
    const cn = model.addModule(CHILD, new ControlNet(model, { controlChannels: cfg.controlChannels }));
    const own = new Set(cn.parameters());
    for (const p of model.parameters()) if (!own.has(p)) p.requiresGrad_(false);
  };
}

/**
 * Base + ControlNet as the diffusion code calls a model; the control map comes in kwargs.control.
 * @param model the base UNet.
 * @param cn its ControlNet.
 * @param scale the conditioning scale (1 as trained).
 */
export function controlledModelFn(model: UNet, cn: ControlNet, scale = 1): ModelFn {
  return (x, t, kwargs) => {
    // (Classifier-free guidance doubles kwargs.control with the batch, as every batched kwarg.)
    const control = kwargs.control;
    if (control === undefined) throw new Error('a ControlNet model needs kwargs.control');
    return model.forward(x, t, { y: kwargs.y, control: cn.forward(x, t, control, { y: kwargs.y, scale }) });
  };
}

/** The trainer's batchKwargs: each microbatch's control map. */
export function controlKwargs(cfg: ControlNetRunConfig): (x0: Tensor) => ModelKwargs {
  return (x0) => ({ control: controlMap(cfg.control, x0) });
}

/**
 * Writes OUT/controlnet.safetensors from a ControlNet run's checkpoint (EMA weights at the first
 * rate, or the raw ones).
 * @returns the file and its size in bytes, and the parameter count.
 */
export function exportControlNet(checkpointDir: string, out: string): { file: string; bytes: number; params: number } {
  const ck = loadCheckpoint(checkpointDir, { weightsOnly: true });
  const cfg = ck.state.config.controlnet;
  try {
    if (cfg === undefined) throw new CheckpointError(`${ck.dir}: not a ControlNet checkpoint`);
    const rate = ck.state.emaRates[0] ?? null;
    const src = rate === null ? ck.model : ck.ema.get(rate)!;
    const tensors = Object.fromEntries(Object.entries(src).map(([k, t]) => [k.slice(CHILD.length + 1), t]));
    const file = path.join(out, CONTROLNET_FILE);
    torch.saveSafetensors(file, tensors, {
      format: FORMAT, version: '1', control: cfg.control, control_channels: String(cfg.controlChannels),
      base: cfg.base, base_hash: cfg.baseHash, step: String(ck.state.step), ema_rate: rate === null ? 'none' : String(rate),
    });
    return { file, bytes: statSync(file).size, params: Object.values(tensors).reduce((n, t) => n + t.numel(), 0) };
  } finally {
    torch.dispose(ck.model);
    for (const sd of ck.ema.values()) torch.dispose(sd);
  }
}

export interface LoadedControlNet {
  cn: ControlNet;
  file: string;
  control: ControlNetRunConfig['control'];
  controlChannels: number;
}

/**
 * Loads a ControlNet for a base model already loaded (eval mode).
 * @param model the base; its weights must be those the ControlNet was trained beside.
 * @param p the file, or a ControlNet run's output folder.
 * @throws CheckpointError (one line) for a missing, damaged or foreign file, or another base.
 */
export function loadControlNet(model: UNet, p: string): LoadedControlNet {
  let file = p;
  try {
    if (statSync(p).isDirectory()) file = path.join(p, CONTROLNET_FILE);
    statSync(file);
  } catch {
    throw new CheckpointError(`${p}: no such ControlNet (give a 'diffuse controlnet train' output folder or its ${CONTROLNET_FILE})`);
  }
  let loaded: ReturnType<typeof torch.loadSafetensors>;
  try {
    loaded = torch.loadSafetensors(file);
  } catch (e) {
    throw new CheckpointError(`${file}: ${(e as Error).message.split('\n')[0]!.replace(`${file}: `, '')}; not a readable ControlNet file`);
  }
  const m = loaded.metadata ?? {};
  try {
    if (m.format !== FORMAT) throw new CheckpointError(`${file}: not a diffuse ControlNet (no format '${FORMAT}' in its metadata)`);
    const hash = baseModelHash(model);
    if (m.base_hash !== hash) {
      throw new CheckpointError(`${file}: this ControlNet was trained beside another base model (${m.base}, weights ${m.base_hash}; these weights are ${hash}); use it with the checkpoint it was made for`);
    }
    const controlChannels = Number(m.control_channels);
    const cn = new ControlNet(model, { controlChannels });
    torch.nn.setComputeDtype(cn, model.computeDtype);
    try {
      cn.loadStateDict(loaded.tensors);
    } catch (e) {
      throw new CheckpointError(`${file}: its weights do not fit this model (${(e as Error).message.split('\n')[0]})`);
    }
    return { cn: cn.eval(), file, control: m.control as ControlNetRunConfig['control'], controlChannels };
  } finally {
    torch.dispose(loaded.tensors);
  }
}
