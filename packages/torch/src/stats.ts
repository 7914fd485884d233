import { native } from './native.js';

/** Live native handles: tensors, the distinct storages they hold, and those storages' bytes. */
export function memory(): { tensors: number; storages: number; bytes: number } {
  return native.memory();
}
