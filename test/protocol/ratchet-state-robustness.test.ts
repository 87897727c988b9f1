// Robustness of the ratchet state against a malicious peer and against crafted states:
// - a peer (holding the session legitimately) sends previous_chain_length or an index of 2^32 - 1 in
//   an authenticated message: refused as malformed, so the victim's state stays storable;
// - a decodable state with a one-way step that has not switched and has no next chain is refused
//   by Session.deserialize with a typed error, not later with a TypeError inside encrypt.
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { Pqe2eeError, Session } from '../support/library.js';
import { OneWayStepStateSchema, SessionStateSchema } from '../../src/proto/gen/state_pb.js';
import { establish, SUITES, utf8 } from '../support/index.js';

function edited(session: Session, edit: (state: ReturnType<typeof fromBinary<typeof SessionStateSchema>>) => void): Uint8Array {
  const state = fromBinary(SessionStateSchema, session.serialize());
  edit(state);
  return toBinary(SessionStateSchema, state);
}

/** Runs `f`; passes when it succeeds or fails with a typed error, fails on anything else. */
function typedOrOk(f: () => unknown): void {
  try {
    f();
  } catch (error) {
    expect(error, String(error)).toBeInstanceOf(Pqe2eeError);
  }
}

describe.each(SUITES)('suite %i', (suite) => {
  it("a malicious peer cannot make the victim's state unserializable with previous_chain_length = 2^32 - 1", () => {
    const { a, b } = establish(suite);
    // Balanced traffic until a has just moved to a new sending chain (nothing sent on it yet).
    const sendingOf = (s: Session) => fromBinary(SessionStateSchema, s.serialize()).ratchet!.sendingChain!;
    for (let i = 0; !(sendingOf(a).epoch > 0 && sendingOf(a).nextIndex === 0); i++) {
      if (i > 1000) throw new Error('a never moved to a new chain');
      b.decrypt(a.encrypt(utf8(`a${i}`)));
      a.decrypt(b.encrypt(utf8(`b${i}`)));
    }
    // The malicious peer a edits its own state: its new chain claims a previous chain of 2^32 - 1
    // messages. Everything it sends is authentic.
    const evil = Session.deserialize(
      edited(a, (s) => {
        s.ratchet!.sendingChain!.previousLength = 0xffff_ffff;
      }),
    );
    typedOrOk(() => b.decrypt(evil.encrypt(utf8('evil'))));
    let bytes: Uint8Array | undefined;
    typedOrOk(() => {
      bytes = b.serialize();
    });
    expect(bytes, 'the victim state still serializes').toBeDefined();
    expect(() => Session.deserialize(bytes as Uint8Array)).not.toThrow();
  });

  it('a decodable state with an unswitched one-way step but no next chain fails with a typed error', () => {
    const { a } = establish(suite);
    const crafted = edited(a, (s) => {
      const r = s.ratchet!;
      const sending = r.sendingChain!;
      r.oneWayStep = create(OneWayStepStateSchema, {
        epoch: sending.epoch,
        step: sending.step + 1,
        ciphertext: new Uint8Array(a.suite.params.kemCiphertextBytes),
        chunksSent: 1000,
        switched: false,
      });
    });
    typedOrOk(() => Session.deserialize(crafted).encrypt(utf8('x')));
  });
});
