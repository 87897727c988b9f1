// Peer: @noble/hashes (pure JS) — SHA-256, SHA3-256, HMAC-SHA256, HKDF-SHA256.
import { caseFactory } from './case.mjs';
import { equalBytes as eq } from '../inputs.mjs';

export const PEER = '@noble/hashes';

export async function load(inp) {
  const { sha256 } = await import('@noble/hashes/sha2.js');
  const { sha3_256 } = await import('@noble/hashes/sha3.js');
  const { hmac } = await import('@noble/hashes/hmac.js');
  const { hkdf } = await import('@noble/hashes/hkdf.js');
  const c = caseFactory(PEER);
  const out = [];
  for (const size of ['64B', '1KiB']) {
    const h = inp.hash[size];
    out.push(
      c(`sha256.${size}`, () => sha256(h.message), { bytes: h.message.length, check: () => eq(sha256(h.message), h.sha256) }),
      c(`sha3_256.${size}`, () => sha3_256(h.message), { bytes: h.message.length, check: () => eq(sha3_256(h.message), h.sha3_256) }),
    );
  }
  const m = inp.hmac,
    k = inp.hkdf;
  out.push(
    c('hmac-sha256.64B', () => hmac(sha256, m.key, m.message), { bytes: 64, check: () => eq(hmac(sha256, m.key, m.message), m.expected) }),
    c('hkdf-sha256.64B', () => hkdf(sha256, k.ikm, k.salt, k.info, k.length), { check: () => eq(hkdf(sha256, k.ikm, k.salt, k.info, k.length), k.expected) }),
  );
  return out;
}
