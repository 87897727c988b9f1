/** Argument checks shared by the handlers: names are non-empty well-formed strings, values are Uint8Arrays. */
import { MAX_NAME_BYTES } from './database.js';
import { InvalidStorageInputError } from '../errors.js';

const LONE_SURROGATE = /\p{Surrogate}/u;
const encoder = new TextEncoder();

/** UTF-8 length of a well-formed string. */
export function utf8Length(text: string): number {
  return encoder.encode(text).length;
}

/**
 * Checks a namespace or key: a string of 1 to MAX_NAME_BYTES UTF-8 bytes with no lone surrogate
 * (a lone surrogate has no UTF-8 form, so two different strings would name one stored record).
 */
export function requireName(what: 'namespace' | 'key', name: unknown): asserts name is string {
  if (typeof name !== 'string') throw new InvalidStorageInputError(`${what} must be a string`);
  if (name.length === 0) throw new InvalidStorageInputError(`${what} must not be empty`);
  if (LONE_SURROGATE.test(name)) throw new InvalidStorageInputError(`${what} must be well-formed Unicode (it has a lone surrogate)`);
  if (name.length > MAX_NAME_BYTES || utf8Length(name) > MAX_NAME_BYTES) {
    throw new InvalidStorageInputError(`${what} must be at most ${MAX_NAME_BYTES} UTF-8 bytes`);
  }
}

/** Checks that a value is a Uint8Array (a Node Buffer is one). */
export function requireValue(value: unknown): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw new InvalidStorageInputError('value must be a Uint8Array');
}

/** Orders keys by the byte order of their UTF-8 forms, which is code-point order (not UTF-16 order). */
export function compareKeys(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (0xD800-0xDFFF) encode code points above 0xFFFF, so they sort after 0xE000-0xFFFF.
    const xHigh = x >= 0xd800 && x <= 0xdfff;
    const yHigh = y >= 0xd800 && y <= 0xdfff;
    if (xHigh !== yHigh) return xHigh ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}
