// Peer: node:crypto (OpenSSL). Keys that node wants as KeyObjects are imported once from the
// shared raw inputs, outside the timed function (the peer's best case).
import * as nc from 'node:crypto';
import { caseFactory } from './case.mjs';
import { SIZES, equalBytes as eq } from '../inputs.mjs';

export const PEER = 'node:crypto';

const hex = (h) => Buffer.from(h, 'hex');
// RFC 8410 DER prefixes for raw 32-byte keys
const DER = {
  ed25519: { pkcs8: hex('302e020100300506032b657004220420'), spki: hex('302a300506032b6570032100') },
  x25519: { pkcs8: hex('302e020100300506032b656e04220420'), spki: hex('302a300506032b656e032100') },
};
const privateKey = (alg, raw) => nc.createPrivateKey({ key: Buffer.concat([DER[alg].pkcs8, raw]), format: 'der', type: 'pkcs8' });
const publicKey = (alg, raw) => nc.createPublicKey({ key: Buffer.concat([DER[alg].spki, raw]), format: 'der', type: 'spki' });

export function gcmEncrypt(key, nonce, pt) {
  const c = nc.createCipheriv('aes-256-gcm', key, nonce);
  const a = c.update(pt);
  const b = c.final();
  return Buffer.concat([a, b, c.getAuthTag()]);
}
export function gcmDecrypt(key, nonce, ct) {
  const d = nc.createDecipheriv('aes-256-gcm', key, nonce);
  d.setAuthTag(ct.subarray(ct.length - 16));
  const a = d.update(ct.subarray(0, ct.length - 16));
  const b = d.final();
  return b.length ? Buffer.concat([a, b]) : a;
}

export async function load(inp) {
  const c = caseFactory(PEER);
  const out = [];
  const notes = [];
  const { key, nonce } = inp.aes;
  for (const { label } of SIZES) {
    const a = inp.aes[label];
    out.push(
      c(`aes256gcm.encrypt.${label}`, () => gcmEncrypt(key, nonce, a.plaintext), { bytes: a.bytes, check: () => eq(gcmEncrypt(key, nonce, a.plaintext), a.ciphertext) }),
      c(`aes256gcm.decrypt.${label}`, () => gcmDecrypt(key, nonce, a.ciphertext), { bytes: a.bytes, check: () => eq(gcmDecrypt(key, nonce, a.ciphertext), a.plaintext) }),
    );
  }
  const k = inp.hkdf,
    m = inp.hmac;
  out.push(
    c('hkdf-sha256.64B', () => nc.hkdfSync('sha256', k.ikm, k.salt, k.info, k.length), { check: () => eq(nc.hkdfSync('sha256', k.ikm, k.salt, k.info, k.length), k.expected) }),
    c('hmac-sha256.64B', () => nc.createHmac('sha256', m.key).update(m.message).digest(), {
      bytes: 64,
      check: () => eq(nc.createHmac('sha256', m.key).update(m.message).digest(), m.expected),
    }),
  );
  for (const size of ['64B', '1KiB']) {
    const h = inp.hash[size];
    out.push(
      c(`sha256.${size}`, () => nc.createHash('sha256').update(h.message).digest(), {
        bytes: h.message.length,
        check: () => eq(nc.createHash('sha256').update(h.message).digest(), h.sha256),
      }),
      c(`sha3_256.${size}`, () => nc.createHash('sha3-256').update(h.message).digest(), {
        bytes: h.message.length,
        check: () => eq(nc.createHash('sha3-256').update(h.message).digest(), h.sha3_256),
      }),
    );
  }
  const x = inp.x25519;
  const xPriv = privateKey('x25519', x.secretA),
    xPub = publicKey('x25519', x.publicB);
  out.push(
    c('x25519.sharedSecret', () => nc.diffieHellman({ privateKey: xPriv, publicKey: xPub }), {
      check: () => eq(nc.diffieHellman({ privateKey: xPriv, publicKey: xPub }), x.shared),
    }),
  );
  const e = inp.ed25519;
  const ePriv = privateKey('ed25519', e.seed),
    ePub = publicKey('ed25519', e.publicKey);
  out.push(
    c('ed25519.sign', () => nc.sign(null, e.message, ePriv), { bytes: e.message.length, check: () => eq(nc.sign(null, e.message, ePriv), e.signature) }),
    c('ed25519.verify', () => nc.verify(null, e.message, ePub, e.signature), { bytes: e.message.length, check: () => nc.verify(null, e.message, ePub, e.signature) === true }),
  );

  // ML-KEM / ML-DSA only exist in much newer Node releases; record why they are absent.
  for (const alg of ['ml-kem-1024', 'ml-dsa-87']) {
    try {
      nc.generateKeyPairSync(alg);
      notes.push(`${alg} is available in ${process.version} but not benchmarked (no raw-key import path in this harness)`);
    } catch (err) {
      notes.push(`${alg}: not available in node ${process.version} (${err.code ?? err.message})`);
    }
  }
  return { cases: out, notes };
}
