// Peer: @noble/ciphers (pure JS) — AES-256-GCM. A gcm instance is single-use per (key, nonce),
// so each call creates one, as applications do.
import { caseFactory } from './case.mjs';
import { SIZES, equalBytes as eq } from '../inputs.mjs';

export const PEER = '@noble/ciphers';

export async function load(inp) {
  const { gcm } = await import('@noble/ciphers/aes.js');
  const c = caseFactory(PEER);
  const { key, nonce } = inp.aes;
  return SIZES.flatMap(({ label }) => {
    const a = inp.aes[label];
    return [
      c(`aes256gcm.encrypt.${label}`, () => gcm(key, nonce).encrypt(a.plaintext), { bytes: a.bytes, check: () => eq(gcm(key, nonce).encrypt(a.plaintext), a.ciphertext) }),
      c(`aes256gcm.decrypt.${label}`, () => gcm(key, nonce).decrypt(a.ciphertext), { bytes: a.bytes, check: () => eq(gcm(key, nonce).decrypt(a.ciphertext), a.plaintext) }),
    ];
  });
}
