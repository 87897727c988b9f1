// The three one-to-one traffic patterns of the wire rows, written once for both implementations.
// A pair adapter gives `open()` → a conversation with `send(side, plaintext)`: encrypt at `side`
// ('a' initiator, 'b' responder), decrypt at the other side, check the plaintext, and return the
// serialized bytes that went over the wire. Every message is decrypted, so a size is only counted
// for a message that was actually readable.
import { fixture } from '../inputs.mjs';
import { sizeStats } from './stats.mjs';

export const BODY_BYTES = 100;
export const MESSAGES = 200;

let tag = 0;
/** A fresh 100-byte body (content does not change sizes; uniqueness keeps every message distinct). */
export const body = () => fixture(BODY_BYTES, 10_000 + tag++);

async function sendMany(conv, sides) {
  const sizes = [];
  for (const side of sides) sizes.push(await conv.send(side, body()));
  return sizes;
}

const repeat = (side, n) => Array.from({ length: n }, () => side);
const alternate = (n) => Array.from({ length: n }, (_, i) => (i % 2 ? 'b' : 'a'));

/**
 * burstFresh  A sends MESSAGES right after setup, B never answers (the first is the first message
 *             of the session).
 * burst       the same after one exchange A→B, B→A (an established session: libsignal stops
 *             attaching its pre-key header once the peer has answered).
 * pingPong    after the same exchange, MESSAGES alternating A, B, A, …
 * first       bytes before B can read A's first message: the handshake messages plus that message.
 */
export async function conversationRows(pair, n = MESSAGES) {
  const fresh = await pair.open();
  const freshSizes = await sendMany(fresh, repeat('a', n));
  const first = { handshake: fresh.handshakeBytes, message: freshSizes[0], total: fresh.handshakeBytes + freshSizes[0], parts: fresh.handshakeParts };

  const established = async () => {
    const conv = await pair.open();
    await sendMany(conv, ['a', 'b']);
    return conv;
  };
  const burst = await sendMany(await established(), repeat('a', n));
  const pingPong = await sendMany(await established(), alternate(n));
  return {
    first,
    burstFresh: sizeStats(freshSizes),
    burst: sizeStats(burst),
    pingPong: sizeStats(pingPong),
    // Setup bytes spread over the fresh burst: what a short conversation really costs per message.
    burstFreshWithSetup: +((fresh.handshakeBytes + freshSizes.reduce((s, x) => s + x, 0)) / n).toFixed(1),
  };
}
