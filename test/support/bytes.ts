// Byte helpers shared by every suite: hex, UTF-8, concatenation, comparison and mutation.
import { createHash } from 'node:crypto';

const te = new TextEncoder();
const td = new TextDecoder();
export const utf8 = (s: string): Uint8Array => te.encode(s);
export const fromUtf8 = (b: Uint8Array): string => td.decode(b);

export function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

export function unhex(s: string): Uint8Array {
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) throw new Error(`bad hex in test data: ${s.slice(0, 40)}`);
  return new Uint8Array(Buffer.from(s, 'hex'));
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
/** Same as concatBytes (the crypto suites' name). */
export const concat = concatBytes;

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

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

/** Index of the first occurrence of `needle` in `hay`, or -1. */
export function indexOfBytes(hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

export function nodeSha256(b: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(b).digest());
}
