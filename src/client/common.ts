/**
 * The common handler plugin (white paper): time, randomness and ids. Replaceable for tests and
 * for platforms with their own clock; the protocol code takes time only from here.
 */
import { randomBytes } from '../crypto/index.js';

export interface CommonHandler {
  /** Milliseconds since the epoch. */
  now(): number;
  /** A fresh random UUID (v4), used for message ids. */
  randomUuid(): string;
}

/** Date.now and the crypto core's randomness. */
export const defaultCommonHandler: CommonHandler = {
  now: () => Date.now(),
  randomUuid: () => {
    const b = randomBytes(16);
    b[6] = ((b[6] as number) & 0x0f) | 0x40;
    b[8] = ((b[8] as number) & 0x3f) | 0x80;
    const hex = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  },
};

/** Resolves after `ms` milliseconds (a timer: pauses between retries, not a reading of the clock). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
