/**
 * Replays of chains whose keys are gone stay refused however many epochs have passed: messages of
 * an epoch older than every receiving chain kept are refused, not re-derived.
 */
import { describe, expect, it } from 'vitest';
import { ReplayError } from '../support/library.js';
import { establish } from '../support/protocol.js';

describe('replay of an evicted chain', () => {
  it('is refused after more epochs than the session keeps chains for', () => {
    // Suite 2 sends its X25519 epoch key whole, so each exchange completes an epoch.
    const { a, b } = establish(2);
    const sent: Uint8Array[] = [];
    for (let i = 0; i < 80; i++) {
      const wire = b.encrypt(new TextEncoder().encode(`msg ${i}`));
      sent.push(wire);
      a.decrypt(wire);
      b.decrypt(a.encrypt(new TextEncoder().encode(`ack ${i}`)));
    }
    expect(a.ratchetEpoch).toBeGreaterThan(20);
    for (const index of [0, 10, 70, 79]) expect(() => a.decrypt(sent[index] as Uint8Array)).toThrow(ReplayError);
  });
});
