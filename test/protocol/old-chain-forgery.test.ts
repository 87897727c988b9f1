// Attack: a thief holding the sender's state from before healing forges messages on the sender's
// OLD chains, which the receiver keeps (up to 32) for late messages. The receiver must refuse any
// index at or past the length the sender announced for a finished chain (previous_chain_length),
// so healing holds for authenticity too, in one-way and balanced traffic.
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { Session } from '../support/library.js';
import { SessionStateSchema } from '../../src/proto/gen/state_pb.js';
import { oneWayBudget } from '../../src/protocol/sparse/one-way-step.js';
import { acceptedByCopy, establish, SUITES, utf8 } from '../support/index.js';

/**
 * The thief's next message on the chain it stole: it simply keeps that chain (a state it edits as it
 * likes: no one-way step, no sign of having heard from the peer), like the honest code would
 * without the bookkeeping that makes it step.
 */
function forgeOnStolenChain(thief: Uint8Array, text: string): { thief: Uint8Array; wire: Uint8Array } {
  const state = fromBinary(SessionStateSchema, thief);
  const r = state.ratchet!;
  r.oneWayStep = undefined;
  r.messagesSincePeerMessage = 0;
  r.chunksSincePeerMessage = 1000;
  const session = Session.deserialize(toBinary(SessionStateSchema, state));
  const wire = session.encrypt(utf8(text));
  return { thief: session.serialize(), wire };
}

describe.each(SUITES)('suite %i', (suite) => {
  it('one-way: after the writer healed (several steps), a thief cannot forge on the stolen pre-step chain', () => {
    const { a, b } = establish(suite);
    for (let i = 0; i < 5; i++) b.decrypt(a.encrypt(utf8(`warm ${i}`)));
    let thief = a.serialize();
    const budget = oneWayBudget(a.suite);
    // The genuine writer goes on alone for six budgets: at least two steps (healed, per the docs).
    for (let i = 0; i < 6 * budget; i++) b.decrypt(a.encrypt(utf8(`genuine ${i}`)));
    let accepted = -1;
    for (let i = 0; i < 8 * budget && accepted < 0; i++) {
      const forged = forgeOnStolenChain(thief, `forged ${i}`);
      thief = forged.thief;
      if (acceptedByCopy(b, forged.wire)) accepted = i;
    }
    expect(accepted, `forgery ${accepted} on the stolen chain accepted after healing`).toBe(-1);
  });

  it('balanced: after later epochs completed, a thief cannot forge on the stolen epoch chain', () => {
    const { a, b } = establish(suite);
    for (let i = 0; i < 3; i++) {
      b.decrypt(a.encrypt(utf8(`a${i}`)));
      a.decrypt(b.encrypt(utf8(`b${i}`)));
    }
    let thief = a.serialize();
    const theftEpoch = a.ratchetEpoch;
    for (let i = 0; Math.min(a.ratchetEpoch, b.ratchetEpoch) < theftEpoch + 4; i++) {
      if (i > 2000) throw new Error('no epochs');
      b.decrypt(a.encrypt(utf8(`a more ${i}`)));
      a.decrypt(b.encrypt(utf8(`b more ${i}`)));
    }
    let accepted = -1;
    for (let i = 0; i < 300 && accepted < 0; i++) {
      const forged = forgeOnStolenChain(thief, `forged ${i}`);
      thief = forged.thief;
      if (acceptedByCopy(b, forged.wire)) accepted = i;
    }
    expect(accepted, `forgery ${accepted} on the stolen chain accepted ${b.ratchetEpoch - theftEpoch} epochs after the theft`).toBe(-1);
  });
});
