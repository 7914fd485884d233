// Gradient checkpointing for modules: forward keeps no activations, backward recomputes them
// (Chen et al. 2016), with the random state replayed so dropout draws the same masks.
import { checkpoint, isGradEnabled } from '../autograd.js';
import { tensor } from '../creation.js';
import { call } from '../dispatch.js';
import { tidy } from '../memory.js';
import { defaultGenerator } from '../random.js';
import { isTensor, type Tensor } from '../tensor.js';
import type { Module } from './module.js';

/** What a checkpointed function may return: a tensor, or an array of tensors and nulls. */
export type CheckpointOutput = Tensor | readonly (Tensor | null)[];

/** A module whose forward returns tensors; its non-tensor arguments are passed through as is. */
export interface CheckpointableModule extends Module {
  forward(...args: never[]): CheckpointOutput;
}

// Wrappers handed to native code are read by it right after the callback returns; they are
// released at the start of the next callback (or in a microtask), never before.
let consumed: Tensor[] = [];
let flushQueued = false;
function releaseConsumed(): void {
  const ts = consumed;
  consumed = [];
  for (const t of ts) t.dispose();
}
function releaseLater(ts: Tensor[]): void {
  consumed.push(...ts);
  if (!flushQueued) {
    flushQueued = true;
    queueMicrotask(() => {
      flushQueued = false;
      releaseConsumed();
    });
  }
}

function rngState(): Uint8Array {
  const s = defaultGenerator().getState();
  try {
    return s.data() as Uint8Array;
  } finally {
    s.dispose();
  }
}
function setRngState(bytes: Uint8Array): void {
  const s = tensor(bytes, { dtype: 'uint8' });
  defaultGenerator().setState(s);
  s.dispose();
}

/**
 * Runs fn(...inputs) with gradient checkpointing (PyTorch's reentrant torch.utils.checkpoint
 * with preserve_rng_state): the forward stores only the inputs; backward runs fn again with the
 * default generator's state as it was in the forward, then restores the generator.
 * Without grad mode, or when nothing needs a gradient, fn simply runs.
 * @param fn a function of the tensors in `inputs`; other tensors it reads (parameters, masks)
 *   must stay alive until backward. The tensors it creates are disposed when it returns (its
 *   results are handed over as fresh tensors), and it may be called twice.
 * @param inputs tensors fn depends on; gradients flow back to those that require grad
 * @param params tensors fn closes over that need gradients (a module's parameters): passed so the
 *   result requires grad even when no input does; their gradients accumulate during backward
 * @param o preserveRngState (default true)
 * @returns fn's result, with the same structure
 */
export function checkpointCall<T extends CheckpointOutput>(
  fn: (...inputs: Tensor[]) => T,
  inputs: Tensor[],
  params: Tensor[] = [],
  o: { preserveRngState?: boolean } = {},
): T {
  const trainable = params.filter((p) => p.requiresGrad);
  if (!isGradEnabled() || (trainable.length === 0 && !inputs.some((t) => t.requiresGrad))) return fn(...inputs);
  const saved = (o.preserveRngState ?? true) ? rngState() : null;
  let layout: boolean[] | null = null; // per output slot: true = tensor, false = null; null = one tensor
  let calls = 0;
  const run = (...all: Tensor[]): Tensor[] => {
    releaseConsumed();
    const recompute = calls++ > 0;
    const replay = recompute && saved !== null;
    const current = replay ? rngState() : null;
    if (replay) setRngState(saved);
    try {
      // Hand autograd fresh tensors that we own: detached in the forward (no history there, and
      // not a view, so callers may modify the result in place), aliases in the recomputation
      // (they keep the graph). tidy() then frees fn's own results, but not tensors it did not create.
      const tensors = tidy(() => {
        const out = fn(...all.slice(0, inputs.length));
        const slots = isTensor(out) ? null : (out as readonly (Tensor | null)[]);
        layout ??= slots === null ? null : slots.map((t) => t !== null);
        const produced = slots === null ? [out as Tensor] : slots.filter((t): t is Tensor => t !== null);
        return produced.map((t) => (recompute ? call<Tensor>('aten::alias', [t]) : t.detach()));
      });
      releaseLater([...all, ...tensors]);
      return tensors;
    } finally {
      if (current !== null) setRngState(current);
    }
  };
  const outs = checkpoint(run, ...inputs, ...trainable);
  if (layout === null) return outs[0] as T;
  let i = 0;
  return (layout as boolean[]).map((present) => (present ? outs[i++]! : null)) as unknown as T;
}

const ORIGINAL = Symbol('checkpointed.original');
/** The module's own `forward` property before patching (undefined: it came from the prototype). */
type Patched = CheckpointableModule & { [ORIGINAL]?: { own: PropertyDescriptor | undefined } };

/**
 * Turns gradient checkpointing on (or off) for one module: its forward becomes a checkpointed
 * call whose tensor arguments are the checkpoint inputs and whose parameters get gradients as
 * usual. The module itself is returned (same state dict names, same object).
 * @param module any module whose forward takes tensors (other arguments pass through unchanged)
 * @param enabled false restores the plain forward
 * @returns module
 */
export function checkpointed<M extends CheckpointableModule>(module: M, enabled = true): M {
  const m = module as Patched;
  if (enabled === (m[ORIGINAL] !== undefined)) return module;
  if (!enabled) {
    const { own } = m[ORIGINAL]!;
    if (own === undefined) delete (m as { forward?: unknown }).forward; // back to the prototype's method
    else Object.defineProperty(m, 'forward', own);
    delete m[ORIGINAL];
    return module;
  }
  m[ORIGINAL] = { own: Object.getOwnPropertyDescriptor(m, 'forward') };
  const original = (m.forward as (...args: unknown[]) => CheckpointOutput).bind(m);
  const forward = (...args: unknown[]): CheckpointOutput => {
    // Each distinct tensor is one checkpoint input, so `query === key` style checks still hold.
    const distinct = [...new Set(args.filter(isTensor))];
    const rerun = (...ts: Tensor[]): CheckpointOutput => original(...args.map((a) => (isTensor(a) ? ts[distinct.indexOf(a)] : a)));
    return checkpointCall(rerun, distinct, m.parameters());
  };
  Object.defineProperty(m, 'forward', { value: forward, configurable: true, writable: true });
  return module;
}

/** Whether checkpointed() is on for this module. */
export function isCheckpointed(module: Module): boolean {
  return (module as Patched)[ORIGINAL] !== undefined;
}
