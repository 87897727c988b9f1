// Peer: @noble/curves (pure JS) — X25519, Ed25519.
import { caseFactory } from './case.mjs';
import { equalBytes as eq } from '../inputs.mjs';

export const PEER = '@noble/curves';

export async function load(inp) {
  const { ed25519, x25519 } = await import('@noble/curves/ed25519.js');
  const c = caseFactory(PEER);
  const x = inp.x25519,
    e = inp.ed25519;
  return [
    c('x25519.sharedSecret', () => x25519.getSharedSecret(x.secretA, x.publicB), { check: () => eq(x25519.getSharedSecret(x.secretA, x.publicB), x.shared) }),
    c('ed25519.sign', () => ed25519.sign(e.message, e.seed), { bytes: e.message.length, check: () => eq(ed25519.sign(e.message, e.seed), e.signature) }),
    c('ed25519.verify', () => ed25519.verify(e.signature, e.message, e.publicKey), {
      bytes: e.message.length,
      check: () => ed25519.verify(e.signature, e.message, e.publicKey) === true,
    }),
  ];
}
