// Shared helpers for the crypto test suites. Not a test file itself (vitest only picks up *.test.ts).
import { createHash } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { shake256 } from '@noble/hashes/sha3.js';
import { Pqe2eeError } from '../src/crypto/index.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Third-party vectors live outside the repo: ../shared/vectors relative to the repo root. */
export const vectorsDir = path.resolve(repoRoot, '../shared/vectors');
export const wycheproofDir = path.join(vectorsDir, 'wycheproof');

export function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

export function unhex(s: string): Uint8Array {
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) throw new Error(`bad hex in test data: ${s.slice(0, 40)}`);
  return new Uint8Array(Buffer.from(s, 'hex'));
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Copy of `b` with bit `bit` (0..7) of byte `index` flipped. */
export function flipBit(b: Uint8Array, index: number, bit = 0): Uint8Array {
  const c = Uint8Array.from(b);
  c[index] = (c[index] ?? 0) ^ (1 << bit);
  return c;
}

/** Copy resized to `n` bytes: truncated, or extended with 0x5a filler. */
export function resize(b: Uint8Array, n: number): Uint8Array {
  const out = new Uint8Array(n).fill(0x5a);
  out.set(b.subarray(0, Math.min(n, b.length)));
  return out;
}

/** The three wrong lengths required for every fixed-size argument: 0, n-1, n+1. */
export const wrongLengths = (n: number): number[] => [...new Set([0, n - 1, n + 1])].filter((l) => l >= 0 && l !== n);

export function nodeSha256(b: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(b).digest());
}

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
    return shake256(concat(this.seed, ctr), { dkLen: n });
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

type ErrorClass = abstract new (...args: never[]) => Error;

/**
 * Runs `fn`, expecting it to throw an instance of `cls` (and `code`, when given). Returns a description
 * of what went wrong, or null if the expectation held. Used by the table-driven suites so that all
 * failures of a block are collected and reported together.
 */
export function checkThrows(fn: () => unknown, cls: ErrorClass, code?: string): string | null {
  try {
    const r = fn();
    return `expected ${cls.name} but call returned ${show(r)}`;
  } catch (e) {
    if (!(e instanceof cls)) return `expected ${cls.name}, got ${errName(e)}`;
    if (code !== undefined && (e as { code?: unknown }).code !== code)
      return `expected code ${code}, got ${String((e as { code?: unknown }).code)}`;
    return null;
  }
}

/** Like checkThrows but only requires a Pqe2eeError subclass. */
export function checkRejectsWithPqe2eeError(fn: () => unknown): string | null {
  return checkThrows(fn, Pqe2eeError);
}

export function errName(e: unknown): string {
  if (e instanceof Error) return `${e.constructor.name}(${(e as { code?: unknown }).code ?? ''}): ${e.message}`;
  return `non-Error throw: ${String(e)}`;
}

export function show(r: unknown): string {
  if (r instanceof Uint8Array) return `Uint8Array(${r.length})`;
  if (r && typeof r === 'object') return `{${Object.keys(r).join(',')}}`;
  return String(r);
}

/** Collects failure strings; `assert` throws once with all of them (or the first 40). */
export class Failures {
  readonly list: string[] = [];
  add(where: string, msg: string | null | undefined): void {
    if (msg) this.list.push(`${where}: ${msg}`);
  }
  /** Runs `body`, recording any unexpected exception as a failure of `where`. */
  guard(where: string, body: () => void): void {
    try {
      body();
    } catch (e) {
      this.list.push(`${where}: unexpected ${errName(e)}`);
    }
  }
  get count(): number {
    return this.list.length;
  }
  assert(): void {
    if (this.list.length === 0) return;
    const shown = this.list.slice(0, 40).join('\n  ');
    const more = this.list.length > 40 ? `\n  ... and ${this.list.length - 40} more` : '';
    throw new Error(`${this.list.length} failure(s):\n  ${shown}${more}`);
  }
}
