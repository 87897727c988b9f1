/**
 * Standard base64 (RFC 4648 §4, with padding) for the C2SP text formats, strict in both
 * directions: one canonical encoding per byte string. atob() is not used because it is
 * "forgiving" — it skips whitespace and accepts non-zero padding bits — and two spellings of one
 * signature or root hash would let the same checkpoint appear as different texts.
 */
import { CheckpointFormatError } from '../errors.js';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const VALUES = new Int16Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) VALUES[ALPHABET.charCodeAt(i)] = i;

/** Encodes bytes as padded standard base64. */
export function base64Encode(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const a = bytes[i] as number;
    const b = bytes[i + 1];
    const c = bytes[i + 2];
    out += ALPHABET[a >> 2];
    out += ALPHABET[((a & 3) << 4) | ((b ?? 0) >> 4)];
    out += b === undefined ? '=' : ALPHABET[((b & 15) << 2) | ((c ?? 0) >> 6)];
    out += c === undefined ? '=' : ALPHABET[c & 63];
  }
  return out;
}

/**
 * Decodes padded standard base64, rejecting anything but the canonical encoding: characters
 * outside the alphabet, missing or misplaced padding, non-zero bits in the last symbol.
 * `what` names the field in the error.
 */
export function base64Decode(text: string, what: string): Uint8Array {
  if (typeof text !== 'string' || text.length % 4 !== 0) throw new CheckpointFormatError(`${what} is not padded base64`);
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  const out = new Uint8Array((text.length / 4) * 3 - padding);
  let o = 0;
  for (let i = 0; i < text.length; i += 4) {
    const last = i + 4 === text.length;
    const symbols = [0, 1, 2, 3].map((k) => {
      const code = text.charCodeAt(i + k);
      if (last && code === 61 && k >= 4 - padding) return 0; // '='
      const value = code < 128 ? (VALUES[code] as number) : -1;
      if (value < 0) throw new CheckpointFormatError(`${what} is not canonical base64`);
      return value;
    });
    const [s0, s1, s2, s3] = symbols as [number, number, number, number];
    const triple = (s0 << 18) | (s1 << 12) | (s2 << 6) | s3;
    const bytes = last ? 3 - padding : 3;
    // Non-canonical: the bits the padding leaves out must be zero.
    if (last && padding > 0 && (triple & ((1 << (8 * padding)) - 1)) !== 0) throw new CheckpointFormatError(`${what} is not canonical base64`);
    if (bytes > 0) out[o++] = triple >> 16;
    if (bytes > 1) out[o++] = (triple >> 8) & 0xff;
    if (bytes > 2) out[o++] = triple & 0xff;
  }
  return out;
}
