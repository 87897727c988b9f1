/** Small byte helpers shared by the suites. */

/** Concatenates byte arrays into a new array. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let total = 0;
  for (const part of parts) total += part.length;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/**
 * Equality of two byte strings that are public (keys, encodings): not constant time, it stops at the
 * first difference and compares four bytes at a time when both arrays are 4-byte aligned. Secrets
 * are compared with the constant-time bytesEqual of protocol/encoding.ts instead.
 */
export function samePublicBytes(a: Uint8Array, b: Uint8Array): boolean {
  const length = a.length;
  if (length !== b.length) return false;
  let i = 0;
  if (length >= 64 && a.byteOffset % 4 === 0 && b.byteOffset % 4 === 0) {
    const words = length >>> 2;
    const wordsA = new Uint32Array(a.buffer, a.byteOffset, words);
    const wordsB = new Uint32Array(b.buffer, b.byteOffset, words);
    for (let w = 0; w < words; w++) if (wordsA[w] !== wordsB[w]) return false;
    i = words * 4;
  }
  for (; i < length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Concatenation of each part prefixed with its 4-byte big-endian length: the unambiguous encoding
 * of everything the protocol and the store sign, MAC or bind as associated data.
 */
export function lengthPrefixed(...parts: Uint8Array[]): Uint8Array {
  let total = 0;
  for (const part of parts) total += 4 + part.length;
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let offset = 0;
  for (const part of parts) {
    view.setUint32(offset, part.length);
    out.set(part, offset + 4);
    offset += 4 + part.length;
  }
  return out;
}

const textEncoder = new TextEncoder();

/** UTF-8 bytes of a label or name (one shared encoder: labels are encoded on every message). */
export function label(text: string): Uint8Array {
  return textEncoder.encode(text);
}

/** 4-byte big-endian unsigned integer (`value` taken modulo 2^32, as every signed encoding does). */
export function u32(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value >>> 0);
  return out;
}

/** Big-endian encoding of `value` in `length` bytes (RFC 8017 I2OSP). */
export function i2osp(value: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = length - 1, rest = value; i >= 0; i--, rest = Math.floor(rest / 256)) out[i] = rest & 0xff;
  return out;
}

/** Zeroes every given array (secrets that are no longer needed). */
export function wipe(...arrays: Uint8Array[]): void {
  for (const array of arrays) array.fill(0);
}
