// Autograd beyond Tensor.backward: grad mode scopes, gradients of outputs w.r.t. inputs, and
// checkpointing (recompute in backward instead of storing activations).
import { native, type Handle } from './native.js';
import { Tensor } from './tensor.js';

/** Runs fn with gradient recording off (PyTorch's torch.no_grad()). */
export function noGrad<T>(fn: () => T): T {
  const prev = native.isGradEnabled();
  native.setGradEnabled(false);
  try {
    return fn();
  } finally {
    native.setGradEnabled(prev);
  }
}

/** Runs fn with gradient recording on, e.g. inside noGrad. */
export function enableGrad<T>(fn: () => T): T {
  const prev = native.isGradEnabled();
  native.setGradEnabled(true);
  try {
    return fn();
  } finally {
    native.setGradEnabled(prev);
  }
}

export function isGradEnabled(): boolean {
  return native.isGradEnabled();
}
export function setGradEnabled(on: boolean): void {
  native.setGradEnabled(on);
}

export interface GradOptions {
  gradOutputs?: (Tensor | null)[];
  retainGraph?: boolean;
  createGraph?: boolean;
  allowUnused?: boolean;
}

/** Gradients of outputs with respect to inputs (torch.autograd.grad); null where unused. */
export function grad(outputs: Tensor | Tensor[], inputs: Tensor | Tensor[], options: GradOptions = {}): (Tensor | null)[] {
  const outs = Array.isArray(outputs) ? outputs : [outputs];
  const ins = Array.isArray(inputs) ? inputs : [inputs];
  const gos = options.gradOutputs ?? outs.map(() => null);
  const r = native.grad(
    outs.map((t) => t.handle),
    ins.map((t) => t.handle),
    gos.map((g) => g?.handle ?? null),
    options.retainGraph,
    options.createGraph ?? false,
    options.allowUnused ?? false,
  );
  return r.map((h) => (h === null ? null : new Tensor(h)));
}

/** Backpropagates from several tensors at once (torch.autograd.backward). */
export function backward(tensors: Tensor[], gradTensors?: (Tensor | null)[], options: { retainGraph?: boolean; createGraph?: boolean } = {}): void {
  native.backward(
    tensors.map((t) => t.handle),
    (gradTensors ?? tensors.map(() => null)).map((g) => g?.handle ?? null),
    options.retainGraph,
    options.createGraph ?? false,
  );
}

/**
 * Gradient checkpointing: runs fn without keeping its activations; backward runs fn again to
 * rebuild them (PyTorch's reentrant torch.utils.checkpoint). fn must be deterministic (seed any
 * dropout) and create its own tensors; parameters it closes over get their gradients as usual.
 * CPU only: CUDA backward runs on libtorch's device threads, which may not call JavaScript.
 */
export function checkpoint(fn: (...inputs: Tensor[]) => Tensor | Tensor[], ...inputs: Tensor[]): Tensor[] {
  const run = (handles: Handle[]): Handle[] => {
    const ins = handles.map((h) => new Tensor(h));
    const out = fn(...ins);
    const outs = Array.isArray(out) ? out : [out];
    return outs.map((t) => t.handle);
  };
  return native.checkpoint(run, inputs.map((t) => t.handle)).map((h) => new Tensor(h));
}
