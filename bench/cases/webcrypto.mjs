// Peer: WebCrypto (globalThis.crypto.subtle; in Node backed by OpenSSL on the libuv thread pool).
// Every call is asynchronous: cases run in benchmark.js deferred mode, one operation in flight.
// Keys are imported once as CryptoKeys outside the timed function (the peer's best case).
import { caseFactory } from './case.mjs';
import { SIZES, equalBytes as eq } from '../inputs.mjs';

export const PEER = 'WebCrypto';

export async function load(inp) {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) throw new Error('globalThis.crypto.subtle is not available');
  const c = (op, fn, extra) => caseFactory(PEER)(op, fn, { async: true, ...extra });
  const out = [];
  const notes = [];

  const { key, nonce } = inp.aes;
  const aesKey = await subtle.importKey('raw', key, 'AES-GCM', false, ['encrypt', 'decrypt']);
  const gcm = { name: 'AES-GCM', iv: nonce, tagLength: 128 };
  for (const { label } of SIZES) {
    const a = inp.aes[label];
    out.push(
      c(`aes256gcm.encrypt.${label}`, () => subtle.encrypt(gcm, aesKey, a.plaintext), {
        bytes: a.bytes,
        check: async () => eq(await subtle.encrypt(gcm, aesKey, a.plaintext), a.ciphertext),
      }),
      c(`aes256gcm.decrypt.${label}`, () => subtle.decrypt(gcm, aesKey, a.ciphertext), {
        bytes: a.bytes,
        check: async () => eq(await subtle.decrypt(gcm, aesKey, a.ciphertext), a.plaintext),
      }),
    );
  }

  const k = inp.hkdf;
  const hkdfKey = await subtle.importKey('raw', k.ikm, 'HKDF', false, ['deriveBits']);
  const hkdfAlg = { name: 'HKDF', hash: 'SHA-256', salt: k.salt, info: k.info };
  out.push(
    c('hkdf-sha256.64B', () => subtle.deriveBits(hkdfAlg, hkdfKey, k.length * 8), { check: async () => eq(await subtle.deriveBits(hkdfAlg, hkdfKey, k.length * 8), k.expected) }),
  );

  const m = inp.hmac;
  const hmacKey = await subtle.importKey('raw', m.key, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  out.push(c('hmac-sha256.64B', () => subtle.sign('HMAC', hmacKey, m.message), { bytes: 64, check: async () => eq(await subtle.sign('HMAC', hmacKey, m.message), m.expected) }));

  for (const size of ['64B', '1KiB']) {
    const h = inp.hash[size];
    out.push(
      c(`sha256.${size}`, () => subtle.digest('SHA-256', h.message), { bytes: h.message.length, check: async () => eq(await subtle.digest('SHA-256', h.message), h.sha256) }),
    );
  }
  notes.push('SHA3-256 is not part of WebCrypto');

  // Curve25519 in WebCrypto is newer; skip gracefully where the runtime lacks it.
  try {
    const e = inp.ed25519;
    const pkcs8 = new Uint8Array([...Buffer.from('302e020100300506032b657004220420', 'hex'), ...e.seed]);
    const priv = await subtle.importKey('pkcs8', pkcs8, { name: 'Ed25519' }, false, ['sign']);
    const pub = await subtle.importKey('raw', e.publicKey, { name: 'Ed25519' }, false, ['verify']);
    out.push(
      c('ed25519.sign', () => subtle.sign('Ed25519', priv, e.message), {
        bytes: e.message.length,
        check: async () => eq(await subtle.sign('Ed25519', priv, e.message), e.signature),
      }),
      c('ed25519.verify', () => subtle.verify('Ed25519', pub, e.signature, e.message), {
        bytes: e.message.length,
        check: async () => (await subtle.verify('Ed25519', pub, e.signature, e.message)) === true,
      }),
    );
  } catch (err) {
    notes.push(`Ed25519 unsupported: ${err.message}`);
  }
  try {
    const x = inp.x25519;
    const pkcs8 = new Uint8Array([...Buffer.from('302e020100300506032b656e04220420', 'hex'), ...x.secretA]);
    const priv = await subtle.importKey('pkcs8', pkcs8, { name: 'X25519' }, false, ['deriveBits']);
    const pub = await subtle.importKey('raw', x.publicB, { name: 'X25519' }, false, []);
    const alg = { name: 'X25519', public: pub };
    out.push(c('x25519.sharedSecret', () => subtle.deriveBits(alg, priv, 256), { check: async () => eq(await subtle.deriveBits(alg, priv, 256), x.shared) }));
  } catch (err) {
    notes.push(`X25519 unsupported: ${err.message}`);
  }
  return { cases: out, notes };
}
