// samePublicBytes (src/crypto/bytes.ts): the fast equality used for public values such as the
// canonical-encoding check of every decoded message. Aligned and unaligned views, every length
// around the word boundary, a difference at every position.
import { describe, expect, it } from 'vitest';
import { samePublicBytes } from '../src/crypto/bytes.js';
import { Drbg } from './support/index.js';

const rng = Drbg.fromEnv('public-bytes');

describe('samePublicBytes', () => {
  it('agrees with a byte-by-byte comparison for aligned and unaligned views, differences anywhere', () => {
    for (const length of [0, 1, 3, 4, 63, 64, 65, 67, 68, 200, 4099]) {
      for (const offsetA of [0, 1, 4]) {
        for (const offsetB of [0, 3, 4]) {
          const bytes = rng.bytes(length);
          const a = new Uint8Array(length + offsetA);
          a.set(bytes, offsetA);
          const b = new Uint8Array(length + offsetB);
          b.set(bytes, offsetB);
          const viewA = a.subarray(offsetA);
          const viewB = b.subarray(offsetB);
          expect(samePublicBytes(viewA, viewB), `equal length ${length} offsets ${offsetA}/${offsetB}`).toBe(true);
          const positions = length <= 68 ? [...Array(length).keys()] : [0, 1, 63, 64, length - 5, length - 1, rng.int(0, length - 1)];
          for (const at of positions) {
            viewB[at] = (viewB[at] as number) ^ 0x80;
            expect(samePublicBytes(viewA, viewB), `length ${length} offsets ${offsetA}/${offsetB} differs at ${at}`).toBe(false);
            viewB[at] = (viewB[at] as number) ^ 0x80;
          }
        }
      }
    }
    expect(samePublicBytes(new Uint8Array(64), new Uint8Array(65))).toBe(false);
  });
});
