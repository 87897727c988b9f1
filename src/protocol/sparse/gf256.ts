/**
 * Arithmetic in GF(2^8) with the polynomial x^8 + x^4 + x^3 + x^2 + 1 (0x11d) and generator 2, the
 * field of the erasure code that carries KEM keys and ciphertexts in chunks (erasure-code.ts).
 * Addition is XOR. Multiplication goes through log/exp tables: the data coded here (KEM public keys
 * and ciphertexts) is public, so table lookups leak nothing.
 */
const EXP = new Uint8Array(512);
const LOG = new Uint8Array(256);

{
  let x = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = x;
    LOG[x] = i;
    x <<= 1;
    if (x & 0x100) x ^= 0x11d;
  }
  // Doubled, so that a product needs no reduction of the exponent sum.
  for (let i = 255; i < 512; i++) EXP[i] = EXP[i - 255] as number;
}

/** a · b. */
export function gfMul(a: number, b: number): number {
  if (a === 0 || b === 0) return 0;
  return EXP[(LOG[a] as number) + (LOG[b] as number)] as number;
}

/** a / b for b ≠ 0. */
export function gfDiv(a: number, b: number): number {
  if (b === 0) throw new RangeError('division by zero in GF(256)');
  if (a === 0) return 0;
  return EXP[(LOG[a] as number) + 255 - (LOG[b] as number)] as number;
}

/** out ^= factor · row, byte by byte (the inner loop of encoding and decoding). */
export function gfAddScaled(out: Uint8Array, row: Uint8Array, factor: number): void {
  if (factor === 0) return;
  const logFactor = LOG[factor] as number;
  for (let i = 0; i < out.length; i++) {
    const v = row[i] as number;
    if (v !== 0) out[i] = (out[i] as number) ^ (EXP[(LOG[v] as number) + logFactor] as number);
  }
}
