// The unauthenticated "one-way carry" derivation in receiveStep: a network attacker without keys
// edits the first message of a step chain (its chunk, index, step) while the receiver is one chunk
// short: every edit is refused, the receiver's serialized state is unchanged, and the genuine
// message then decrypts once (a repeat is a ReplayError).
import { describe, expect, it } from 'vitest';
import { ReplayError } from '../support/library.js';
import { epochLayouts } from '../../src/protocol/sparse/kem-epoch.js';
import { equalBytes, establish, expectThrow, pbBytesAt, pbSet, pbVarintAt, SUITES, utf8 } from '../support/index.js';

describe.each(SUITES)('suite %i', (suite) => {
  it('tampered carry messages change nothing; the genuine one decrypts once', () => {
    const { a, b } = establish(suite);
    const held: Uint8Array[] = [];
    let first: Uint8Array | undefined;
    for (let i = 0; i < 400 && !first; i++) {
      const wire = a.encrypt(utf8(`m${i}`));
      const step = pbVarintAt(wire, [6, 7]) ?? 0n;
      const chunk = pbBytesAt(wire, [6, 8]) ?? new Uint8Array(0);
      if (step === 1n) first = wire;
      else if (step === 0n && chunk.length > 0) held.push(wire);
      else b.decrypt(wire);
    }
    expect(first).toBeDefined();
    const wire = first as Uint8Array;
    // Deliver k - 1 of the step's chunks, so that the first step message's own chunk is what completes it.
    const k = epochLayouts(a.suite).ciphertext.dataChunks;
    for (const w of held.slice(0, k - 1)) b.decrypt(w);
    const before = b.serialize();
    const chunk = pbBytesAt(wire, [6, 8]) as Uint8Array;
    const flipped = chunk.slice();
    flipped[5] = (flipped[5] as number) ^ 1;
    const edits = [
      pbSet(wire, [6, 8], { bytes: flipped }),
      pbSet(wire, [6, 4], { varint: 7n }),
      pbSet(wire, [6, 7], { varint: 2n }),
      pbSet(wire, [6, 2], { bytes: (pbBytesAt(wire, [6, 2]) as Uint8Array).map((x, i) => (i === 0 ? x ^ 1 : x)) }),
    ];
    for (const edit of edits) {
      expect(() => b.decrypt(edit)).toThrow();
      expect(equalBytes(b.serialize(), before), 'a refused message changed the state').toBe(true);
    }
    expect(new TextDecoder().decode(b.decrypt(wire)).startsWith('m')).toBe(true);
    expectThrow(() => b.decrypt(wire), ReplayError);
  });
});
