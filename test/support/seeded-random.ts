// Seeded deterministic generators for the test loops, both SHAKE256(seed || counter):
// `Drbg` (crypto suites; a fresh random seed per run, printed, replayable) and `Rng` (protocol
// suites; a fixed seed per label). PQE2EE_TEST_SEED=<hex> replaces the seed of either.
// test/support/prng.ts holds the faster non-cryptographic `Prng` of the adversarial fuzzer.
import { shake256 } from '@noble/hashes/sha3.js';
import { concatBytes, hex, unhex, utf8 } from './bytes.js';

/**
 * Deterministic random generator for the "random input" loops: SHAKE256(seed || counter).
 * The seed itself comes from crypto.getRandomValues (or PQE2EE_TEST_SEED=<hex> to replay a failure)
 * and is printed, so a failing run can be reproduced exactly.
 */
export class Drbg {
  readonly seedHex: string;
  private counter = 0;
  private constructor(private readonly seed: Uint8Array) {
    this.seedHex = hex(seed);
  }

  static fromEnv(label: string): Drbg {
    const env = process.env['PQE2EE_TEST_SEED'];
    const seed = env ? unhex(env) : crypto.getRandomValues(new Uint8Array(32));
    const d = new Drbg(seed);
    console.log(`[${label}] random seed ${d.seedHex} (replay with PQE2EE_TEST_SEED=${d.seedHex})`);
    return d;
  }

  bytes(n: number): Uint8Array {
    const ctr = new Uint8Array(8);
    new DataView(ctr.buffer).setBigUint64(0, BigInt(this.counter++));
    if (n === 0) return new Uint8Array(0);
    return shake256(concatBytes(this.seed, ctr), { dkLen: n });
  }

  /** Uniform integer in [lo, hi] (inclusive). */
  int(lo: number, hi: number): number {
    const b = this.bytes(6);
    const v = b.reduce((acc, x) => acc * 256 + x, 0); // < 2^48, exact in a double
    return lo + (v % (hi - lo + 1));
  }

  bool(): boolean {
    return this.int(0, 1) === 1;
  }
}

export class Rng {
  private counter = 0;
  private pool = new Uint8Array(0);
  private poolOffset = 0;
  private readonly seed: Uint8Array;
  readonly seedHex: string;

  constructor(label: string) {
    const env = process.env['PQE2EE_TEST_SEED'];
    const seed = env ? Uint8Array.from(Buffer.from(env, 'hex')) : shake256(utf8(`pqe2ee protocol tests/${label}`), { dkLen: 32 });
    this.seed = seed;
    this.seedHex = hex(seed);
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let o = 0;
    while (o < n) {
      if (this.poolOffset >= this.pool.length) {
        const ctr = new Uint8Array(8);
        new DataView(ctr.buffer).setBigUint64(0, BigInt(this.counter++));
        this.pool = shake256(concatBytes(this.seed, ctr), { dkLen: 4096 });
        this.poolOffset = 0;
      }
      const take = Math.min(n - o, this.pool.length - this.poolOffset);
      out.set(this.pool.subarray(this.poolOffset, this.poolOffset + take), o);
      o += take;
      this.poolOffset += take;
    }
    return out;
  }

  /** Uniform integer in [lo, hi] (inclusive). */
  int(lo: number, hi: number): number {
    const b = this.bytes(6);
    const v = b.reduce((acc, x) => acc * 256 + x, 0);
    return lo + (v % (hi - lo + 1));
  }

  bool(): boolean {
    return this.int(0, 1) === 1;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from empty list');
    return items[this.int(0, items.length - 1)] as T;
  }

  /** Fisher-Yates shuffle (in place; returns the array). */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      [items[i], items[j]] = [items[j] as T, items[i] as T];
    }
    return items;
  }
}
