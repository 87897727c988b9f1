// The sparse KEM ratchet through the Session API (docs/protocol.md "Sparse KEM ratchet"): epochs
// complete over a channel that loses, reorders and repeats messages while every delivered message
// decrypts exactly once; a tampered chunk changes nothing; the bytes per message meet issue 14's
// budget; and v1 messages are refused with their own error.
import { describe, expect, it } from 'vitest';
import { DecryptionFailedError, ReplayError, UnsupportedProtocolVersionError } from '../support/library.js';
import { asPath, equalBytes, establish, expectThrow, pbBytesAt, pbSet, Prng, SUITES, utf8, WIRE } from '../support/index.js';

const chunkPath = asPath(WIRE.msg.epochChunk);
const carriesChunk = (wire: Uint8Array): boolean => (pbBytesAt(wire, chunkPath)?.length ?? 0) > 0;
const body = (tag: string): Uint8Array => {
  const out = new Uint8Array(100);
  out.set(utf8(tag).subarray(0, 100));
  return out;
};

describe.each(SUITES)('sparse ratchet, suite %i', (suite) => {
  it('20% loss, reordering and duplicates: epochs complete, every delivered message decrypts once, repeats are refused', () => {
    const random = new Prng(0x5a + suite);
    const { a, b } = establish(suite);
    const sides = { a, b };
    type Flight = { at: number; to: 'a' | 'b'; wire: Uint8Array; text: string; repeat: boolean };
    const inFlight: Flight[] = [];
    const decrypted = new Set<string>();
    let delivered = 0;
    for (let tick = 0; tick < 2000 || inFlight.length > 0; tick++) {
      if (tick < 2000) {
        const from = random.chance(0.5) ? 'a' : 'b';
        const text = `${from}${tick}`;
        const wire = sides[from].encrypt(body(text));
        const to = from === 'a' ? 'b' : 'a';
        if (!random.chance(0.2)) inFlight.push({ at: tick + random.int(8), to, wire, text, repeat: false });
        if (random.chance(0.1)) inFlight.push({ at: tick + random.int(16), to, wire, text, repeat: true });
      }
      inFlight.sort((x, y) => x.at - y.at);
      while (inFlight.length > 0 && (inFlight[0] as Flight).at <= tick) {
        const flight = inFlight.shift() as Flight;
        let plaintext: Uint8Array | undefined;
        try {
          plaintext = sides[flight.to].decrypt(flight.wire);
        } catch (error) {
          // Only a second copy of something already read may fail, and only as a replay.
          expect(decrypted.has(flight.text), `${flight.text} failed on first delivery: ${String(error)}`).toBe(true);
          expect(error).toBeInstanceOf(ReplayError);
          continue;
        }
        expect(decrypted.has(flight.text), `${flight.text} decrypted twice`).toBe(false);
        expect(equalBytes(plaintext, body(flight.text))).toBe(true);
        decrypted.add(flight.text);
        delivered++;
      }
    }
    expect(delivered).toBeGreaterThan(1500);
    // Suite 2 (k = 1) completes an epoch per exchange; the post-quantum suites one per ~60-80
    // messages each way at this loss rate.
    expect(Math.min(a.ratchetEpoch, b.ratchetEpoch)).toBeGreaterThanOrEqual(suite === 2 ? 100 : 5);
  });

  it('a tampered chunk (or its index) fails authentication and changes nothing', () => {
    const { a, b } = establish(suite);
    const wire = a.encrypt(body('with a chunk'));
    expect(carriesChunk(wire)).toBe(true);
    const chunk = pbBytesAt(wire, chunkPath) as Uint8Array;
    const before = b.serialize();
    for (const at of [0, 1, chunk.length - 1]) {
      const bad = chunk.slice();
      bad[at] = (bad[at] as number) ^ 0x40;
      expectThrow(() => b.decrypt(pbSet(wire, chunkPath, { bytes: bad })), DecryptionFailedError);
      expect(equalBytes(b.serialize(), before), 'state changed by a refused message').toBe(true);
    }
    expect(equalBytes(b.decrypt(wire), body('with a chunk'))).toBe(true);
    expect(equalBytes(b.serialize(), before)).toBe(false);
  });

  it('a protocol v1 message is refused with UnsupportedProtocolVersionError', () => {
    const { a, b } = establish(suite);
    const wire = a.encrypt(body('v2'));
    expectThrow(() => b.decrypt(pbSet(wire, asPath(WIRE.msg.version), { varint: 1n })), UnsupportedProtocolVersionError);
    expect(equalBytes(b.decrypt(wire), body('v2'))).toBe(true);
  });
});

describe('bytes on the wire per 100-byte message (issue 14 budget, protocol layer)', () => {
  function average(suite: 1 | 2 | 3, pattern: 'burst' | 'ping-pong', count: number): { mean: number; max: number } {
    const { a, b } = establish(suite);
    let total = 0;
    let max = 0;
    for (let i = 0; i < count; i++) {
      const [from, to] = pattern === 'burst' || i % 2 === 0 ? [a, b] : [b, a];
      const wire = from.encrypt(body(`m${i}`));
      to.decrypt(wire);
      total += wire.length;
      max = Math.max(max, wire.length);
    }
    return { mean: total / count, max };
  }

  it.each([1, 3] as const)('suite %i: <= 200 B on average (<= 220 B for suite 3) in bursts and ping-pong', (suite) => {
    const limit = suite === 1 ? 200 : 220;
    for (const pattern of ['burst', 'ping-pong'] as const) {
      const { mean, max } = average(suite, pattern, 1000);
      expect(mean, `${pattern} mean`).toBeLessThanOrEqual(limit);
      // A message with a chunk: body, header and one 64-byte chunk.
      expect(max, `${pattern} largest`).toBeLessThanOrEqual(215);
    }
  });

  it('suite 2: below v1 (269 B) in both patterns', () => {
    for (const pattern of ['burst', 'ping-pong'] as const) expect(average(2, pattern, 400).mean).toBeLessThan(200);
  });
});
