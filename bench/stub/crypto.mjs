// Development stand-in for dist/crypto.js, used by the bench harness ONLY while the real wasm
// build does not exist (or when BENCH_IMPL=stub). It implements the surface of
// docs/crypto-api.md on top of @noble/* and node:crypto so that the harness can be exercised.
// Numbers measured against it say nothing about pqe2ee; every result produced with it is
// labelled `implementation.source = "stub"`.
import { createCipheriv, createDecipheriv, randomBytes as nodeRandomBytes } from 'node:crypto';
import { ml_kem1024, ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { ml_dsa87, ml_dsa65 } from '@noble/post-quantum/ml-dsa.js';
import { ml_kem768_x25519 } from '@noble/post-quantum/hybrid.js';
import { gcm } from '@noble/ciphers/aes.js';
import { sha256 as nSha256 } from '@noble/hashes/sha2.js';
import { sha3_256 as nSha3 } from '@noble/hashes/sha3.js';
import { hmac } from '@noble/hashes/hmac.js';
import { hkdf, extract, expand } from '@noble/hashes/hkdf.js';
import { ed25519 as nEd, x25519 as nX } from '@noble/curves/ed25519.js';

export const STUB = true;
const EMPTY = new Uint8Array(0);
const enc = new TextEncoder();
const concat = (...a) => {
  const out = new Uint8Array(a.reduce((n, x) => n + x.length, 0));
  let o = 0;
  for (const x of a) { out.set(x, o); o += x.length; }
  return out;
};

export async function ready() {}
export const randomBytes = (n) => new Uint8Array(nodeRandomBytes(n));
export const coreMemoryBytes = () => 0;

function kem(n) {
  const l = n.lengths;
  return {
    publicKeyBytes: l.publicKey, secretKeyBytes: l.secretKey, ciphertextBytes: l.cipherText,
    sharedSecretBytes: 32, seedBytes: 64, coinsBytes: 32,
    keygen: () => n.keygen(),
    keygenFromSeed: (seed) => n.keygen(seed),
    encaps: (pk) => { const r = n.encapsulate(pk); return { ciphertext: r.cipherText, sharedSecret: r.sharedSecret }; },
    encapsWithCoins: (pk, coins) => { const r = n.encapsulate(pk, coins); return { ciphertext: r.cipherText, sharedSecret: r.sharedSecret }; },
    decaps: (sk, ct) => n.decapsulate(ct, sk),
  };
}
export const mlkem1024 = kem(ml_kem1024);
export const mlkem768 = kem(ml_kem768);

function dsa(n) {
  const l = n.lengths;
  return {
    publicKeyBytes: l.publicKey, secretKeyBytes: l.secretKey, signatureBytes: l.signature,
    seedBytes: 32, randomnessBytes: 32,
    keygen: () => n.keygen(),
    keygenFromSeed: (seed) => n.keygen(seed),
    sign: (sk, msg, context = EMPTY) => n.sign(msg, sk, { context }),
    signWithRandomness: (sk, msg, context, rnd) =>
      n.sign(msg, sk, { context, extraEntropy: rnd.every((b) => b === 0) ? false : rnd }),
    verify: (pk, msg, sig, context = EMPTY) => n.verify(sig, msg, pk, { context }),
  };
}
export const mldsa87 = dsa(ml_dsa87);
export const mldsa65 = dsa(ml_dsa65);

export const aes256gcm = {
  keyBytes: 32, nonceBytes: 12, tagBytes: 16,
  encrypt: (key, nonce, pt, aad = EMPTY) => gcm(key, nonce, aad).encrypt(pt),
  decrypt: (key, nonce, ct, aad = EMPTY) => gcm(key, nonce, aad).decrypt(ct),
};

export const hkdfSha256 = (ikm, salt, info, length) => hkdf(nSha256, ikm, salt, info, length);
export const hmacSha256 = (key, msg) => hmac(nSha256, key, msg);
export const sha256 = (m) => nSha256(m);
export const sha3_256 = (m) => nSha3(m);

export const x25519 = {
  keygen: () => { const secretKey = nX.utils.randomSecretKey(); return { secretKey, publicKey: nX.getPublicKey(secretKey) }; },
  publicKeyFromSecret: (sk) => nX.getPublicKey(sk),
  sharedSecret: (sk, pk) => nX.getSharedSecret(sk, pk),
  scalarMult: (sk, pk) => nX.scalarMult(sk, pk),
};

export const ed25519 = {
  publicKeyBytes: 32, secretKeyBytes: 64, seedBytes: 32, signatureBytes: 64,
  keygenFromSeed: (seed) => { const pk = nEd.getPublicKey(seed); return { publicKey: pk, secretKey: concat(seed, pk) }; },
  keygen: () => ed25519.keygenFromSeed(randomBytes(32)),
  publicKeyFromSecret: (sk) => sk.slice(32),
  sign: (sk, msg) => nEd.sign(msg, sk.subarray(0, 32)),
  verify: (pk, msg, sig) => nEd.verify(sig, msg, pk),
};

// ---- suites -------------------------------------------------------------------------------
export const PLATFORM_AEAD_THRESHOLD = 4096;
const autoAead = {
  encrypt(key, nonce, pt, aad = EMPTY) {
    if (pt.length < PLATFORM_AEAD_THRESHOLD) return aes256gcm.encrypt(key, nonce, pt, aad);
    const c = createCipheriv('aes-256-gcm', key, nonce);
    if (aad.length) c.setAAD(aad);
    const out = new Uint8Array(pt.length + 16);
    const a = c.update(pt); out.set(a, 0);
    const b = c.final(); out.set(b, a.length);
    out.set(c.getAuthTag(), a.length + b.length);
    return out;
  },
  decrypt(key, nonce, ct, aad = EMPTY) {
    if (ct.length - 16 < PLATFORM_AEAD_THRESHOLD) return aes256gcm.decrypt(key, nonce, ct, aad);
    const d = createDecipheriv('aes-256-gcm', key, nonce);
    if (aad.length) d.setAAD(aad);
    d.setAuthTag(ct.subarray(ct.length - 16));
    const out = new Uint8Array(ct.length - 16);
    const a = d.update(ct.subarray(0, ct.length - 16)); out.set(a, 0);
    out.set(d.final(), a.length);
    return out;
  },
};
const common = { aead: autoAead, hkdf: hkdfSha256, hmac: hmacSha256, hash: sha256 };
const params = (o) => ({ aeadKeyBytes: 32, aeadNonceBytes: 12, aeadTagBytes: 16, hashBytes: 32, sharedSecretBytes: 32, ...o });

const suite1 = {
  params: params({
    id: 1, name: 'PQ_MLDSA87_MLKEM1024_AES256GCM_SHA256',
    kemPublicKeyBytes: 1568, kemSecretKeyBytes: 3168, kemCiphertextBytes: 1568, kemSeedBytes: 64, kemCoinsBytes: 32,
    sigPublicKeyBytes: 2592, sigSecretKeyBytes: 4896, signatureBytes: 4627, sigSeedBytes: 32, sigRandomnessBytes: 32,
  }),
  kem: mlkem1024,
  sig: {
    keygen: mldsa87.keygen, keygenFromSeed: mldsa87.keygenFromSeed,
    sign: (sk, m) => mldsa87.sign(sk, m), signWithRandomness: (sk, m, r) => mldsa87.signWithRandomness(sk, m, EMPTY, r),
    verify: (pk, m, s) => mldsa87.verify(pk, m, s),
  },
  ...common,
};

// RFC 9180 DHKEM(X25519, HKDF-SHA256)
const KEM_ID = concat(enc.encode('KEM'), new Uint8Array([0x00, 0x20]));
const labeledExtract = (salt, label, ikm) => extract(nSha256, concat(enc.encode('HPKE-v1'), KEM_ID, enc.encode(label), ikm), salt);
const labeledExpand = (prk, label, info, L) =>
  expand(nSha256, prk, concat(new Uint8Array([L >> 8, L & 255]), enc.encode('HPKE-v1'), KEM_ID, enc.encode(label), info), L);
const deriveKeyPair = (ikm) => {
  const sk = labeledExpand(labeledExtract(EMPTY, 'dkp_prk', ikm), 'sk', EMPTY, 32);
  return { secretKey: sk, publicKey: nX.getPublicKey(sk) };
};
const extractAndExpand = (dh, ctx) => labeledExpand(labeledExtract(EMPTY, 'eae_prk', dh), 'shared_secret', ctx, 32);
const dhkem = {
  keygen: () => deriveKeyPair(randomBytes(32)),
  keygenFromSeed: (ikm) => deriveKeyPair(ikm),
  encapsWithCoins(pkR, ikmE) {
    const e = deriveKeyPair(ikmE);
    const dh = x25519.sharedSecret(e.secretKey, pkR);
    return { ciphertext: e.publicKey, sharedSecret: extractAndExpand(dh, concat(e.publicKey, pkR)) };
  },
  encaps: (pkR) => dhkem.encapsWithCoins(pkR, randomBytes(32)),
  decaps(skR, enc_) {
    const dh = x25519.sharedSecret(skR, enc_);
    return extractAndExpand(dh, concat(enc_, nX.getPublicKey(skR)));
  },
};
const suite2 = {
  params: params({
    id: 2, name: 'CLASSIC_ED25519_X25519_AES256GCM_SHA256',
    kemPublicKeyBytes: 32, kemSecretKeyBytes: 32, kemCiphertextBytes: 32, kemSeedBytes: 32, kemCoinsBytes: 32,
    sigPublicKeyBytes: 32, sigSecretKeyBytes: 64, signatureBytes: 64, sigSeedBytes: 32, sigRandomnessBytes: 0,
  }),
  kem: dhkem,
  sig: {
    keygen: ed25519.keygen, keygenFromSeed: ed25519.keygenFromSeed,
    sign: ed25519.sign, signWithRandomness: (sk, m) => ed25519.sign(sk, m), verify: ed25519.verify,
  },
  ...common,
};

const xw = ml_kem768_x25519;
const HCTX = enc.encode('pqe2ee/v1/hybrid-sig');
const hybridSig = {
  keygenFromSeed(seed) {
    const a = mldsa65.keygenFromSeed(seed.subarray(0, 32));
    const b = ed25519.keygenFromSeed(seed.subarray(32, 64));
    return { publicKey: concat(a.publicKey, b.publicKey), secretKey: concat(a.secretKey, b.secretKey) };
  },
  keygen: () => hybridSig.keygenFromSeed(randomBytes(64)),
  signWithRandomness(sk, m, rnd) {
    const a = mldsa65.signWithRandomness(sk.subarray(0, 4032), m, HCTX, rnd);
    return concat(a, ed25519.sign(sk.subarray(4032), concat(HCTX, m)));
  },
  sign: (sk, m) => hybridSig.signWithRandomness(sk, m, randomBytes(32)),
  verify: (pk, m, s) =>
    mldsa65.verify(pk.subarray(0, 1952), m, s.subarray(0, 3309), HCTX) &&
    ed25519.verify(pk.subarray(1952), concat(HCTX, m), s.subarray(3309)),
};
const suite3 = {
  params: params({
    id: 3, name: 'HYBRID_MLDSA65ED25519_XWING_AES256GCM_SHA256',
    kemPublicKeyBytes: 1216, kemSecretKeyBytes: 32, kemCiphertextBytes: 1120, kemSeedBytes: 32, kemCoinsBytes: 64,
    sigPublicKeyBytes: 1984, sigSecretKeyBytes: 4096, signatureBytes: 3373, sigSeedBytes: 64, sigRandomnessBytes: 32,
  }),
  kem: {
    keygen: () => xw.keygen(),
    keygenFromSeed: (s) => xw.keygen(s),
    encaps: (pk) => { const r = xw.encapsulate(pk); return { ciphertext: r.cipherText, sharedSecret: r.sharedSecret }; },
    encapsWithCoins: (pk, c) => { const r = xw.encapsulate(pk, c); return { ciphertext: r.cipherText, sharedSecret: r.sharedSecret }; },
    decaps: (sk, ct) => xw.decapsulate(ct, sk),
  },
  sig: hybridSig,
  ...common,
};

const SUITES = [suite1, suite2, suite3];
export function getSuite(idOrName) {
  const s = SUITES.find((x) => x.params.id === idOrName || x.params.name === idOrName);
  if (!s) throw Object.assign(new Error(`unknown suite ${idOrName}`), { code: 'ERR_UNKNOWN_SUITE' });
  return s;
}
export const listSuites = () => SUITES.slice();
