// Seeded, platform-independent randomness for data order and augmentation: the same seed gives
// the same epochs on every machine, with or without worker threads, before and after a resume.

/**
 * Mixes integers into one well-spread 32-bit value (murmur3's finalizer over each input).
 * @param values integers (their low 32 bits are used).
 * @returns an unsigned 32-bit hash.
 */
export function hash32(...values: number[]): number {
  let h = 0x9e3779b9;
  for (const v of values) {
    h = Math.imul(h ^ (v >>> 0), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}

/**
 * mulberry32: a small, fast 32-bit generator (fine for shuffling, not for cryptography).
 * @param seed the state's start.
 * @returns a function giving uniform floats in [0, 1).
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The order of one epoch: a Fisher–Yates shuffle of 0..n-1 seeded by (seed, epoch).
 * @param n dataset size.
 * @param seed the loader's shuffle seed.
 * @param epoch the epoch number.
 * @returns a permutation of 0..n-1.
 */
export function epochPermutation(n: number, seed: number, epoch: number): Uint32Array {
  const perm = new Uint32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  const rand = mulberry32(hash32(seed, epoch, 0x5eed));
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = perm[i]!;
    perm[i] = perm[j]!;
    perm[j] = t;
  }
  return perm;
}

/**
 * Whether to mirror the example at a position of an epoch (probability 1/2).
 * @param seed the loader's seed.
 * @param epoch the epoch.
 * @param position the example's place in the epoch's order.
 */
export function flipAt(seed: number, epoch: number, position: number): boolean {
  return (hash32(seed, epoch, position, 0xf11b) & 1) === 1;
}
