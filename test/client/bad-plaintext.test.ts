// Issue 11, the pattern of attack 3 on the one-to-one path: an authentic message whose content is
// bad (a plaintext or application message that does not decode) is reported and dropped, and the
// session still moves on: its key is used up, so the same message sent again is a replay.
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { E2eeMsgSchema } from '../../src/proto/gen/wire_pb.js';
import { appPlaintext, rawDevice, rawSessions, text, until, useInProcessServer } from '../support/index.js';

const server = useInProcessServer({ heartbeatMs: 500 });

describe('an authentic one-to-one message with bad content', () => {
  it('is reported and dropped; the session keeps the used key (a resend is a replay) and goes on working', async () => {
    const alice = await server.start('alice');
    const mallory = await rawDevice(server.url, 'mallory');
    mallory.listen();
    const sessions = rawSessions(mallory);
    const [session] = await sessions.openTo(alice.address.userId);
    if (!session) throw new Error('no session');
    const codes: string[] = [];
    alice.on('error', (e) => void codes.push((e.error as { code?: string }).code ?? e.error.message));
    const got: string[] = [];
    alice.on('one2one-message', (e) => void got.push(text(e.message.body)));

    // Not a Plaintext protobuf at all (field 15, wire type 7: invalid).
    const garbage = session.encrypt(new Uint8Array([0x7f, 0xff, 0xff, 0x01]));
    const msg = fromBinary(E2eeMsgSchema, garbage);
    expect((await mallory.service.sendOne2oneMsg({ msg })).code).toBe(200);
    expect(await until(() => codes.length >= 1, 10_000)).toBe(true);
    expect(codes[0]).toBe('ERR_MALFORMED_MESSAGE');
    // The server (or Mallory) sends the very same message again, under a new id.
    expect((await mallory.service.sendOne2oneMsg({ msg: fromBinary(E2eeMsgSchema, toBinary(E2eeMsgSchema, msg)) })).code).toBe(200);
    expect(await until(() => codes.length >= 2, 10_000)).toBe(true);
    expect(codes[1]).toBe('ERR_REPLAY');

    // A valid plaintext whose application message does not decode: reported the same way.
    await sessions.send(alice.address.userId, alice.address.deviceId, appPlaintextWithBadApp());
    expect(await until(() => codes.length >= 3, 10_000)).toBe(true);
    expect(codes[2]).toBe('ERR_MALFORMED_MESSAGE');

    await sessions.send(alice.address.userId, alice.address.deviceId, appPlaintext('still works'));
    expect(await until(() => got.includes('still works'), 10_000)).toBe(true);
    expect(got).toEqual(['still works']);
    mallory.close();
  }, 60_000);
});

function appPlaintextWithBadApp() {
  const plaintext = appPlaintext('x');
  if (plaintext.payload.case === 'commonMsg') plaintext.payload.value = new Uint8Array([0x7f, 0xff, 0xff, 0x01]);
  return plaintext;
}
