/** A forged AcceptMsg (anyone can see the session id) must not change the initiator's session. */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { Account, InboundSession, InvalidSignatureError, OutboundSession, getSuite } from '../support/library.js';
import { AcceptMsgSchema } from '../../src/proto/gen/wire_pb.js';

describe.each([1, 2, 3])('suite %i', (suite) => {
  it('a forged AcceptMsg is refused before anything changes; the real one still completes', () => {
    const now = 1_700_000_000_000;
    const alice = Account.create({ suite, now });
    const bob = Account.create({ suite, now });
    const { session: a, invite } = OutboundSession.initiate(alice, bob.preKeyBundle());
    const { session: b, accept } = InboundSession.accept(bob, invite);
    const real = fromBinary(AcceptMsgSchema, accept);
    const ciphertext = getSuite(suite).kem.encaps(alice.identityPublicKey.kemPublicKey).ciphertext;
    const forged = create(AcceptMsgSchema, { ...real, initiatorIdentityCiphertext: ciphertext, keyConfirmation: new Uint8Array(32) });
    const before = a.serialize();
    expect(() => a.complete(alice, toBinary(AcceptMsgSchema, forged))).toThrow(InvalidSignatureError);
    // A genuine confirmation copied onto another ciphertext does not help either.
    const spliced = create(AcceptMsgSchema, { ...real, initiatorIdentityCiphertext: ciphertext });
    expect(() => a.complete(alice, toBinary(AcceptMsgSchema, spliced))).toThrow(InvalidSignatureError);
    expect(Buffer.from(a.serialize()).equals(Buffer.from(before))).toBe(true);
    a.complete(alice, accept);
    expect(new TextDecoder().decode(b.decrypt(a.encrypt(new TextEncoder().encode('ok'))))).toBe('ok');
  });
});
