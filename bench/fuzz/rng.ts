/** mulberry32: tiny and seedable. Each fuzz input gets its own stream, so any input can be rebuilt from (seed, target, index) alone. */
export interface Rng {
  next(): number;
  int(n: number): number;
  pick<T>(xs: readonly T[]): T;
  chance(p: number): boolean;
}

export function rng(seed: number): Rng {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  return { next, int, pick: (xs) => xs[int(xs.length)], chance: (p) => next() < p };
}

/** FNV-1a over the parts: the seed of input `index` of `target` in a run seeded `seed`. */
export function inputSeed(seed: number, target: string, index: number): number {
  let h = 0x811c9dc5;
  for (const c of `${seed}/${target}/${index}`) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193);
  return h >>> 0;
}
