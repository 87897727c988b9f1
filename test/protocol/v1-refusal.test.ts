// A protocol-v1-shaped one-to-one message (version 1, the 64-character session_id of field 3, v1's
// RatchetHeader in payload field 1, no session tag) is refused with UnsupportedProtocolVersionError,
// as docs/protocol.md promises, although its fields are not a canonical v2 encoding.
import { describe, it } from 'vitest';
import { UnsupportedProtocolVersionError } from '../support/library.js';
import { establish, expectThrow, pbSet, SUITES, utf8 } from '../support/index.js';

describe.each(SUITES)('suite %i', (suite) => {
  it('a v1-shaped one-to-one message is refused with UnsupportedProtocolVersionError', () => {
    const { a, b } = establish(suite);
    let v1 = pbSet(a.encrypt(utf8('x')), [1], { varint: 1n });
    v1 = pbSet(v1, [3], { bytes: utf8(b.sessionId) });
    v1 = pbSet(v1, [6, 1], { bytes: new Uint8Array(100) });
    v1 = pbSet(v1, [8], { remove: true });
    expectThrow(() => b.decrypt(v1), UnsupportedProtocolVersionError);
  });
});
