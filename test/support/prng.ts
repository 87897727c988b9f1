// A small seeded PRNG (mulberry32) for fuzz and property tests: the same seed gives the same
// sequence of choices, so a failing run can be replayed with its seed.

/** FNV-1a of a label, to derive independent streams from one seed. */
function hashLabel(label: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export class Prng {
  private state: number;

  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** An integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('Prng.pick from an empty list');
    return items[this.int(items.length)] as T;
  }

  /** One of the keys, with probability proportional to its weight. */
  weighted<T extends string>(table: ReadonlyArray<readonly [T, number]>): T {
    const total = table.reduce((sum, [, w]) => sum + w, 0);
    let x = this.next() * total;
    for (const [value, w] of table) {
      if ((x -= w) < 0) return value;
    }
    return (table[table.length - 1] as readonly [T, number])[0];
  }

  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j] as T, items[i] as T];
    }
    return items;
  }

  /** An independent stream for `label` (the same seed and label always give the same stream). */
  fork(label: string): Prng {
    return new Prng((this.seed ^ hashLabel(label)) >>> 0);
  }
}

/** Seeds from the environment: `FUZZ_SEED` (decimal or 0x hex) replaces the defaults, `FUZZ_RUNS` runs that many seeds from it. */
export function seedsFromEnv(defaults: number[], env: NodeJS.ProcessEnv = process.env): number[] {
  const raw = env.FUZZ_SEED?.trim();
  const runs = Math.max(1, Number.parseInt(env.FUZZ_RUNS ?? '', 10) || 0);
  if (!raw) return env.FUZZ_RUNS ? Array.from({ length: runs }, (_, i) => (defaults[0] ?? 1) + i) : defaults;
  const base = Number(raw);
  if (!Number.isSafeInteger(base) || base < 0 || base > 0xffffffff) throw new Error(`FUZZ_SEED must be an integer in [0, 2^32): ${raw}`);
  return Array.from({ length: runs }, (_, i) => (base + i) >>> 0);
}

export const hexSeed = (seed: number): string => `0x${(seed >>> 0).toString(16).padStart(8, '0')}`;
