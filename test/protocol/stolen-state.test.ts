/**
 * What a stolen session state gives a thief (protocol v2, docs/protocol.md "Security properties"):
 * - not the messages already read, even if the thief ignores the state's bookkeeping (rewinds the
 *   chains' indexes, restores deleted skipped keys' slots): chain keys only move forward and the
 *   epoch root they came from is not kept;
 * - not the messages of an epoch set up after the theft: the thief, following the conversation
 *   as a passive eavesdropper with the stolen state, loses track at the first epoch whose KEM
 *   secret involves randomness the victim drew after the theft (healing).
 */
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { Pqe2eeError, Session } from '../support/library.js';
import { SessionStateSchema } from '../../src/proto/gen/state_pb.js';
import { establish, SUITES } from '../support/protocol.js';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

function rewound(serialized: Uint8Array): Session {
  const state = fromBinary(SessionStateSchema, serialized);
  const ratchet = state.ratchet!;
  for (const chain of ratchet.receivingChains) chain.nextIndex = 0;
  ratchet.skippedKeys = [];
  return Session.deserialize(toBinary(SessionStateSchema, state));
}

function attempt(session: Session, wire: Uint8Array): string | Pqe2eeError {
  try {
    return text(session.decrypt(wire));
  } catch (error) {
    if (error instanceof Pqe2eeError) return error;
    throw error;
  }
}

describe.each(SUITES)('suite %i', (suite) => {
  it('a stolen state, rewound, cannot decrypt a message already read', () => {
    const { a, b } = establish(suite);
    const read = a.encrypt(bytes('already read'));
    expect(text(b.decrypt(read))).toBe('already read');
    expect(attempt(rewound(b.serialize()), read)).toBeInstanceOf(Pqe2eeError);
    // The control: the same state before reading does decrypt it.
    const { a: a2, b: b2 } = establish(suite);
    const unread = a2.encrypt(bytes('not yet read'));
    expect(attempt(rewound(b2.serialize()), unread)).toBe('not yet read');
  });

  it('heals: after a full compromise of one side, later epochs are closed to the stolen state', () => {
    const { a, b } = establish(suite);
    // Some traffic first, so the theft happens mid-conversation with an epoch in progress.
    for (let i = 0; i < 7; i++) {
      b.decrypt(a.encrypt(bytes(`a${i}`)));
      a.decrypt(b.encrypt(bytes(`b${i}`)));
    }
    const stolen = Session.deserialize(a.serialize());
    const theftEpoch = a.ratchetEpoch;
    // The conversation goes on; the thief reads along every message Bob sends (as Alice would).
    const readable: boolean[] = [];
    let healedAt = -1;
    for (let i = 0; i < 400 && healedAt < 0; i++) {
      b.decrypt(a.encrypt(bytes(`a-after-${i}`)));
      const wire = b.encrypt(bytes(`b-after-${i}`));
      expect(text(a.decrypt(wire))).toBe(`b-after-${i}`);
      const got = attempt(stolen, wire);
      readable.push(got === `b-after-${i}`);
      if (got !== `b-after-${i}`) healedAt = i;
    }
    // The thief read along at first (the epoch in progress at the theft was already compromised) ...
    expect(readable[0]).toBe(true);
    // ... and then lost track, for good, once Alice had completed two more epochs.
    expect(healedAt).toBeGreaterThan(0);
    expect(a.ratchetEpoch).toBeGreaterThan(theftEpoch);
    for (let i = 0; i < 200; i++) {
      b.decrypt(a.encrypt(bytes(`x${i}`)));
      const wire = b.encrypt(bytes(`y${i}`));
      a.decrypt(wire);
      expect(attempt(stolen, wire)).toBeInstanceOf(Pqe2eeError);
    }
    expect(a.ratchetEpoch).toBeGreaterThanOrEqual(theftEpoch + 2);
  });
});
