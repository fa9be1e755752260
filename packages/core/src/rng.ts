/**
 * Seeded pseudo-random numbers that give the same sequence on every machine.
 * xoshiro128** (Blackman & Vigna, 2018) with 32-bit integer arithmetic only, seeded
 * through splitmix32, with its 128-bit state exposed so checkpoints can store it.
 */

export type RngState = readonly [number, number, number, number];

/** Stream id of dropout masks, mixed with the run's seed (local training and the coordinator's per-image seeds). */
export const DROPOUT_STREAM = 0x64726f70; // "drop"

/** MurmurHash3's 32-bit finaliser: a bijective avalanche of one word. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function splitmix32(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (x + 0x9e3779b9) >>> 0;
    return fmix32(x);
  };
}

/**
 * Mixes integers in [0, 2^32) into one 32-bit seed; order matters. Used to derive
 * independent streams, e.g. a dropout mask per (seed, step, position in the batch).
 */
export function mixSeed(...parts: readonly number[]): number {
  let h = 0x811c9dc5;
  for (const part of parts) h = fmix32((Math.imul(h, 0x01000193) ^ (part >>> 0)) >>> 0);
  return h;
}

export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: number) {
    const next = splitmix32(seed);
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1; // the all-zero state is a fixed point
  }

  static fromState(state: RngState): Rng {
    const rng = new Rng(0);
    [rng.s0, rng.s1, rng.s2, rng.s3] = state.map((word) => word >>> 0) as unknown as [number, number, number, number];
    return rng;
  }

  state(): RngState {
    return [this.s0, this.s1, this.s2, this.s3];
  }

  /** Uniform 32-bit unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1) with 32 bits of randomness. */
  nextFloat(): number {
    return this.nextUint32() / 0x100000000;
  }

  /**
   * A dropout mask: out[start + i] = (nextFloat() < dropProbability ? 0 : keepValue) for i
   * in [0, length), drawing exactly as that loop would (same values, same state after).
   * NOTE: this is the training step's one per-activation random draw (9,344 per image in
   * the default model), so the state lives in locals for the loop instead of a call per draw.
   */
  fillDropoutMask(out: { [index: number]: number }, start: number, length: number, dropProbability: number, keepValue: number): void {
    // nextFloat() = u / 2^32 exactly, so nextFloat() < p  <=>  u < p * 2^32 (also exact).
    const threshold = dropProbability * 0x100000000;
    let s0 = this.s0;
    let s1 = this.s1;
    let s2 = this.s2;
    let s3 = this.s3;
    for (let i = 0; i < length; i++) {
      const x = Math.imul(s1, 5);
      const result = Math.imul((x << 7) | (x >>> 25), 9) >>> 0;
      const t = s1 << 9;
      s2 ^= s0;
      s3 ^= s1;
      s1 ^= s2;
      s0 ^= s3;
      s2 ^= t;
      s3 = (s3 << 11) | (s3 >>> 21);
      out[start + i] = result < threshold ? 0 : keepValue;
    }
    this.s0 = s0;
    this.s1 = s1;
    this.s2 = s2;
    this.s3 = s3 >>> 0;
  }

  /** Uniform in [low, high). */
  uniform(low: number, high: number): number {
    return low + (high - low) * this.nextFloat();
  }

  /** Uniform integer in [0, n), without modulo bias. */
  nextInt(n: number): number {
    if (!(n > 0 && n <= 0x100000000)) throw new RangeError(`nextInt: n must be in (0, 2^32], got ${n}`);
    const limit = 0x100000000 - (0x100000000 % n);
    let x: number;
    do x = this.nextUint32();
    while (x >= limit);
    return x % n;
  }

  /** A uniformly random permutation of 0..n-1 (Fisher-Yates). */
  permutation(n: number): Uint32Array {
    const out = new Uint32Array(n);
    for (let i = 0; i < n; i++) out[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.nextInt(i + 1);
      const tmp = out[i]!;
      out[i] = out[j]!;
      out[j] = tmp;
    }
    return out;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
