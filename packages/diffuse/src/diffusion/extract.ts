// improved-diffusion's _extract_into_tensor: read a float64 table at a batch of timesteps and
// make a (B, 1, ..., 1) tensor in x's dtype and device, ready to broadcast against x. The one
// place where schedule values cross from float64 JS arrays into tensors.
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';

/**
 * The timesteps of a (B,) tensor as JS integers, checked against the table length.
 * @param t timesteps (B,), any integer dtype (or integral floats).
 * @param numTimesteps T, the table length.
 * @returns the B indices.
 */
export function timestepIndices(t: Tensor, numTimesteps: number): number[] {
  if (t.ndim !== 1) throw new RangeError(`timesteps must be 1-D (B,), got shape [${t.shape.join(', ')}]`);
  const ts = t.toArray();
  for (const i of ts) {
    if (!Number.isInteger(i) || i < 0 || i >= numTimesteps) {
      throw new RangeError(`timestep ${i} out of range [0, ${numTimesteps})`);
    }
  }
  return ts;
}

/**
 * Values of a 1-D float64 table at a batch of timesteps, shaped to broadcast against x.
 * @param arr the table, e.g. alphasCumprod (T,).
 * @param t timesteps (B,), int64.
 * @param like the tensor to broadcast against (B, ...): gives the rank, dtype and device.
 * @returns arr[t] as a (B, 1, ..., 1) tensor with like's rank, dtype and device.
 */
export function extractIntoTensor(arr: Float64Array, t: Tensor, like: Tensor): Tensor {
  const ts = timestepIndices(t, arr.length);
  const values = Float64Array.from(ts, (i) => arr[i]!);
  const shape = [ts.length, ...new Array<number>(Math.max(like.ndim - 1, 0)).fill(1)];
  const dtype = torch.isFloating(like.dtype) ? like.dtype : 'float32';
  return torch.tensor(values, { dtype, shape, device: like.device }); // (B, 1, ..., 1)
}

/**
 * A (B,) int64 tensor filled with one timestep, as the sampling loops pass to the model.
 * @param batchSize B.
 * @param t the timestep.
 * @param device where the batch lives.
 */
export function timestepBatch(batchSize: number, t: number, device: torch.Device = 'cpu'): Tensor {
  return torch.full([batchSize], t, { dtype: 'int64', device }); // (B,)
}
