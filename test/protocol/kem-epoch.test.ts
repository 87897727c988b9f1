// The arithmetic of a sparse-ratchet epoch (src/protocol/sparse/kem-epoch.ts): the root depends on
// every input, the epoch's keys differ per epoch and direction, roles alternate, and chunk sizes
// are what docs/protocol.md states per suite.
import { describe, expect, it } from 'vitest';
import { getSuite } from '../../src/crypto/index.js';
import { epochChunkBytes, epochKeys, epochLayouts, epochRoot, opensEpoch } from '../../src/protocol/sparse/kem-epoch.js';

const flip = (bytes: Uint8Array): Uint8Array => {
  const copy = bytes.slice();
  copy[0] = (copy[0] as number) ^ 1;
  return copy;
};

describe('KEM epoch', () => {
  it('derives the root from every input: secret, previous salt, epoch, transcript, key and ciphertext', () => {
    const suite = getSuite(1);
    const binding = { suite, transcript: new Uint8Array([1, 2, 3]) };
    const salt = new Uint8Array(32).fill(9);
    const secret = new Uint8Array(32).fill(1);
    const key = new Uint8Array(1568).fill(2);
    const ciphertext = new Uint8Array(1568).fill(3);
    const root = epochRoot(binding, 7, salt, secret, key, ciphertext);
    expect(root).toHaveLength(32);
    expect(epochRoot(binding, 7, salt, secret, key, ciphertext)).toEqual(root);
    const variants = [
      epochRoot(binding, 7, salt, flip(secret), key, ciphertext),
      epochRoot(binding, 7, flip(salt), secret, key, ciphertext),
      epochRoot(binding, 8, salt, secret, key, ciphertext),
      epochRoot({ suite, transcript: flip(binding.transcript) }, 7, salt, secret, key, ciphertext),
      epochRoot(binding, 7, salt, secret, flip(key), ciphertext),
      epochRoot(binding, 7, salt, secret, key, flip(ciphertext)),
    ];
    for (const variant of variants) expect(variant).not.toEqual(root);
  });

  it('gives two chain keys and a salt, all different, and different for another epoch', () => {
    const suite = getSuite(2);
    const root = new Uint8Array(32).fill(5);
    const a = epochKeys(suite, 3, root);
    const b = epochKeys(suite, 4, root);
    const all = [a.chainKeys[0], a.chainKeys[1], a.nextSalt, b.chainKeys[0], b.chainKeys[1], b.nextSalt].map((k) => Buffer.from(k).toString('hex'));
    expect(new Set(all).size).toBe(6);
    // The salt is not the root: a state that keeps it cannot re-derive the epoch's chains.
    expect(a.nextSalt).not.toEqual(root);
  });

  it('alternates who opens an epoch: odd epochs the initiator, even ones the responder', () => {
    expect([1, 2, 3, 4].map((e) => opensEpoch(true, e))).toEqual([true, false, true, false]);
    expect([1, 2, 3, 4].map((e) => opensEpoch(false, e))).toEqual([false, true, false, true]);
  });

  it('chunks: 64 B for ML-KEM-1024 (25 per key and per ciphertext), 19/18 for X-Wing, one whole X25519 key', () => {
    expect(epochChunkBytes(getSuite(1))).toBe(64);
    expect(epochLayouts(getSuite(1))).toMatchObject({ publicKey: { dataChunks: 25 }, ciphertext: { dataChunks: 25 } });
    expect(epochLayouts(getSuite(3))).toMatchObject({ publicKey: { dataChunks: 19 }, ciphertext: { dataChunks: 18 } });
    expect(epochChunkBytes(getSuite(2))).toBe(32);
    expect(epochLayouts(getSuite(2))).toMatchObject({ publicKey: { dataChunks: 1 }, ciphertext: { dataChunks: 1 } });
  });
});
