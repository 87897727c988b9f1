// The erasure code of the sparse KEM ratchet (src/protocol/sparse/): GF(256) is a field, chunks
// 0..k−1 are the payload itself, and any k distinct chunks — data, repair or a mix, in any order,
// with repeats — decode to the payload, for ML-KEM-1024 keys and ciphertexts and odd sizes.
import { describe, expect, it } from 'vitest';
import { ChunkDecoder, ChunkEncoder, chunkLayout, MAX_CHUNKS } from '../../src/protocol/sparse/erasure-code.js';
import { gfDiv, gfMul } from '../../src/protocol/sparse/gf256.js';
import { InvalidLengthError, MalformedMessageError } from '../../src/errors.js';
import { Prng } from '../support/index.js';

describe('GF(256)', () => {
  it('every non-zero element has an inverse, and multiplication distributes over XOR', () => {
    for (let a = 1; a < 256; a++) expect(gfMul(a, gfDiv(1, a))).toBe(1);
    const random = new Prng(7);
    for (let i = 0; i < 2000; i++) {
      const [a, b, c] = [random.int(256), random.int(256), random.int(256)];
      expect(gfMul(a, b ^ c)).toBe(gfMul(a, b) ^ gfMul(a, c));
      expect(gfMul(gfMul(a, b), c)).toBe(gfMul(a, gfMul(b, c)));
      expect(gfMul(a, b)).toBe(gfMul(b, a));
    }
  });

  it('matches carry-less multiplication reduced by 0x11d (computed independently, bit by bit)', () => {
    const slow = (a: number, b: number): number => {
      let product = 0;
      for (let bit = 0; bit < 8; bit++) if ((b >> bit) & 1) product ^= a << bit;
      for (let bit = 15; bit >= 8; bit--) if ((product >> bit) & 1) product ^= 0x11d << (bit - 8);
      return product;
    };
    for (let a = 0; a < 256; a++) for (let b = 0; b < 256; b += 3) expect(gfMul(a, b)).toBe(slow(a, b));
  });
});

describe('chunk erasure code', () => {
  const random = new Prng(11);
  const bytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, () => random.int(256));

  it.each([
    [1568, 32], // ML-KEM-1024 public key or ciphertext in 32-byte chunks: 49 data chunks
    [1568, 64],
    [1, 1],
    [1000, 9], // last chunk padded
    [1120, 40],
  ])('any k distinct chunks of a %i-byte payload in %i-byte chunks decode it', (size, chunkBytes) => {
    const payload = bytes(size);
    const encoder = new ChunkEncoder(payload, chunkBytes);
    const { dataChunks } = encoder.layout;
    // Systematic: the data chunks are the payload, the last one zero-padded.
    const padded = new Uint8Array(dataChunks * chunkBytes);
    padded.set(payload);
    for (let i = 0; i < dataChunks; i++) expect(encoder.chunk(i)).toEqual(padded.slice(i * chunkBytes, (i + 1) * chunkBytes));
    for (let trial = 0; trial < 6; trial++) {
      // A random set of k indexes from the whole range (trial 0: only repair chunks).
      const pool = Array.from({ length: MAX_CHUNKS }, (_, i) => i).filter((i) => trial !== 0 || i >= dataChunks);
      for (let i = pool.length - 1; i > 0; i--) {
        const j = random.int(i + 1);
        [pool[i], pool[j]] = [pool[j] as number, pool[i] as number];
      }
      const decoder = new ChunkDecoder(encoder.layout);
      for (const index of pool.slice(0, dataChunks)) {
        expect(decoder.add(index, encoder.chunk(index))).toBe(true);
        // A repeat is dropped.
        expect(decoder.add(index, encoder.chunk(index))).toBe(false);
      }
      expect(decoder.complete).toBe(true);
      expect(decoder.decode()).toEqual(payload);
    }
  });

  it('k − 1 chunks do not decode, and a changed chunk changes the result (no silent repair)', () => {
    const payload = bytes(1568);
    const encoder = new ChunkEncoder(payload, 32);
    const decoder = new ChunkDecoder(encoder.layout);
    for (let i = 100; i < 100 + encoder.layout.dataChunks - 1; i++) decoder.add(i, encoder.chunk(i));
    expect(decoder.complete).toBe(false);
    expect(() => decoder.decode()).toThrow(MalformedMessageError);
    const bad = encoder.chunk(200);
    bad[3] = (bad[3] as number) ^ 1;
    decoder.add(200, bad);
    expect(decoder.decode()).not.toEqual(payload);
  });

  it('under 20% random loss a receiver completes after about k / 0.8 chunks sent in order', () => {
    const payload = bytes(1568);
    const encoder = new ChunkEncoder(payload, 32);
    const k = encoder.layout.dataChunks;
    const sent: number[] = [];
    for (let run = 0; run < 200; run++) {
      const decoder = new ChunkDecoder(encoder.layout);
      let n = 0;
      while (!decoder.complete) {
        const index = n % MAX_CHUNKS;
        n++;
        if (random.int(5) !== 0) decoder.add(index, encoder.chunk(index));
      }
      expect(decoder.decode()).toEqual(payload);
      sent.push(n);
    }
    const mean = sent.reduce((a, b) => a + b, 0) / sent.length;
    expect(mean).toBeGreaterThan(k / 0.8 - 3);
    expect(mean).toBeLessThan(k / 0.8 + 3);
  });

  it('refuses bad indexes, chunk sizes and layouts', () => {
    const encoder = new ChunkEncoder(bytes(100), 10);
    expect(() => encoder.chunk(MAX_CHUNKS)).toThrow(InvalidLengthError);
    expect(() => encoder.chunk(-1)).toThrow(InvalidLengthError);
    const decoder = new ChunkDecoder(encoder.layout);
    expect(() => decoder.add(MAX_CHUNKS, new Uint8Array(10))).toThrow(MalformedMessageError);
    expect(() => decoder.add(0, new Uint8Array(11))).toThrow(MalformedMessageError);
    expect(() => chunkLayout(1568, 8)).toThrow(InvalidLengthError); // 196 data chunks: no room for repair
    expect(() => chunkLayout(0, 8)).toThrow(InvalidLengthError);
  });
});
