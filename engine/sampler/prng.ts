/**
 * The sampler's seeded random numbers: xoshiro128** (Blackman & Vigna), with
 * its 128-bit state filled from the seed by a splitmix32 sequence so that
 * nearby seeds give unrelated streams. Written for kiln; the only contract is
 * that one seed always yields one sequence, on every platform, because it is
 * plain 32-bit integer arithmetic.
 */
import { randomInt } from 'node:crypto';

function splitmix32(state: { x: number }): number {
  state.x = (state.x + 0x9e3779b9) | 0;
  let z = state.x;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

export class Prng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  /** The seed actually used (a drawn one when asked for -1). */
  readonly seed: number;

  /** Seeds are integers; -1 or a missing seed draws one from the OS. */
  constructor(seed?: number) {
    this.seed = seed === undefined || seed < 0 || !Number.isFinite(seed) ? randomInt(0, 2 ** 47) : Math.floor(seed);
    // Both halves of a seed up to 2^53 take part.
    const st = { x: (this.seed % 2 ** 32) ^ Math.imul(Math.floor(this.seed / 2 ** 32), 0x27d4eb2d) };
    this.s0 = splitmix32(st);
    this.s1 = splitmix32(st);
    this.s2 = splitmix32(st);
    this.s3 = splitmix32(st);
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1; // the all-zero state is a fixed point
  }

  /** The next 32 random bits as an unsigned integer. */
  nextU32(): number {
    const r = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return r;
  }

  /** A uniform double in [0, 1) with 53 random bits. */
  next(): number {
    const hi = this.nextU32() >>> 5; // 27 bits
    const lo = this.nextU32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
