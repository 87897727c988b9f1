// Differential tests: random inputs compared byte-for-byte against independent implementations
// (@noble/post-quantum, node:crypto / OpenSSL, @hpke/core, and an RFC 9180 DHKEM written here on
// top of @noble/curves + @noble/hashes). The random stream is seeded from crypto.getRandomValues
// and printed; set PQE2EE_TEST_SEED=<hex> to replay a failing run.
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
  sign as nodeSign,
  verify as nodeVerify,
} from 'node:crypto';
import * as nodeCryptoModule from 'node:crypto';
import { DhkemX25519HkdfSha256 } from '@hpke/core';
import { x25519 as nobleX25519 } from '@noble/curves/ed25519.js';
import { expand, extract } from '@noble/hashes/hkdf.js';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { ml_kem768_x25519 as nobleXWing } from '@noble/post-quantum/hybrid.js';
import { ml_dsa65, ml_dsa87 } from '@noble/post-quantum/ml-dsa.js';
import { ml_kem1024, ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { describe, expect, it } from 'vitest';
import * as api from '../src/crypto/index.js';
import { aes256gcm, ed25519, getSuite, hkdfSha256, hmacSha256, mldsa65, mldsa87, mlkem1024, mlkem768, sha256, sha3_256, x25519 } from '../src/crypto/index.js';
import { concat, Drbg, flipBit, hex, utf8 } from './support/index.js';

const ITER = 50;
const rng = Drbg.fromEnv('differential');
const ZERO32 = new Uint8Array(32);
const EMPTY = new Uint8Array(0);
const u8 = (b: ArrayBuffer | Uint8Array): Uint8Array => new Uint8Array(b as ArrayBuffer);

// ---------------------------------------------------------------------------------------------------
// node:crypto key objects from raw bytes. The DER prefixes are taken from keys node itself exports,
// so nothing is hand-typed.

type OkpType = 'x25519' | 'ed25519';
const derPrefixes = (type: OkpType) => {
  const { privateKey, publicKey } = generateKeyPairSync(type as 'x25519');
  const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' });
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  return { pkcs8: pkcs8.subarray(0, pkcs8.length - 32), spki: spki.subarray(0, spki.length - 32) };
};
const PREFIX = { x25519: derPrefixes('x25519'), ed25519: derPrefixes('ed25519') };
const nodePrivateKey = (type: OkpType, raw: Uint8Array): KeyObject => createPrivateKey({ key: Buffer.concat([PREFIX[type].pkcs8, raw]), format: 'der', type: 'pkcs8' });
const nodePublicKey = (type: OkpType, raw: Uint8Array): KeyObject => createPublicKey({ key: Buffer.concat([PREFIX[type].spki, raw]), format: 'der', type: 'spki' });
const rawPublic = (k: KeyObject): Uint8Array => {
  const der = createPublicKey(k).export({ format: 'der', type: 'spki' });
  return u8(der.subarray(der.length - 32));
};

function nodeGcmEncrypt(key: Uint8Array, nonce: Uint8Array, pt: Uint8Array, aad: Uint8Array): Uint8Array {
  const c = createCipheriv('aes-256-gcm', key, nonce);
  c.setAAD(aad);
  return u8(Buffer.concat([c.update(pt), c.final(), c.getAuthTag()]));
}
function nodeGcmDecrypt(key: Uint8Array, nonce: Uint8Array, ct: Uint8Array, aad: Uint8Array): Uint8Array {
  const d = createDecipheriv('aes-256-gcm', key, nonce);
  d.setAAD(aad);
  d.setAuthTag(ct.subarray(ct.length - 16));
  return u8(Buffer.concat([d.update(ct.subarray(0, ct.length - 16)), d.final()]));
}

// ---------------------------------------------------------------------------------------------------
// ML-KEM

describe.each([
  { name: 'ML-KEM-1024', ours: mlkem1024, ref: ml_kem1024 },
  { name: 'ML-KEM-768', ours: mlkem768, ref: ml_kem768 },
])('$name vs @noble/post-quantum', ({ ours, ref }) => {
  it(`keygenFromSeed, encapsWithCoins, decaps (incl. implicit rejection) are byte-identical x${ITER}`, () => {
    for (let i = 0; i < ITER; i++) {
      const seed = rng.bytes(64);
      const a = ours.keygenFromSeed(seed);
      const b = ref.keygen(seed);
      expect(hex(a.publicKey), `iter ${i} pk`).toBe(hex(b.publicKey));
      expect(hex(a.secretKey), `iter ${i} sk`).toBe(hex(b.secretKey));

      const coins = rng.bytes(32);
      const e1 = ours.encapsWithCoins(a.publicKey, coins);
      const e2 = ref.encapsulate(b.publicKey, coins);
      expect(hex(e1.ciphertext), `iter ${i} ct`).toBe(hex(e2.cipherText));
      expect(hex(e1.sharedSecret), `iter ${i} ss`).toBe(hex(e2.sharedSecret));
      expect(hex(ours.decaps(a.secretKey, e2.cipherText)), `iter ${i} decaps`).toBe(hex(e2.sharedSecret));

      // hedged encaps decapsulated by the reference
      const e3 = ours.encaps(a.publicKey);
      expect(hex(ref.decapsulate(e3.ciphertext, b.secretKey)), `iter ${i} ref decaps`).toBe(hex(e3.sharedSecret));

      // random ciphertext: implicit rejection must match the reference exactly
      const junk = rng.bytes(ours.ciphertextBytes);
      expect(hex(ours.decaps(a.secretKey, junk)), `iter ${i} implicit rejection`).toBe(hex(ref.decapsulate(junk, b.secretKey)));
    }
  });

  it('random keygen() interoperates with the reference', () => {
    for (let i = 0; i < 10; i++) {
      const kp = ours.keygen();
      const e = ref.encapsulate(kp.publicKey, rng.bytes(32));
      expect(hex(ours.decaps(kp.secretKey, e.cipherText))).toBe(hex(e.sharedSecret));
    }
  });
});

// ---------------------------------------------------------------------------------------------------
// ML-DSA

describe.each([
  { name: 'ML-DSA-87', ours: mldsa87, ref: ml_dsa87 },
  { name: 'ML-DSA-65', ours: mldsa65, ref: ml_dsa65 },
])('$name vs @noble/post-quantum', ({ ours, ref }) => {
  it(`keygenFromSeed, deterministic and given-rnd signatures (with/without context) are byte-identical x${ITER}`, () => {
    for (let i = 0; i < ITER; i++) {
      const seed = rng.bytes(32);
      const a = ours.keygenFromSeed(seed);
      const b = ref.keygen(seed);
      expect(hex(a.publicKey), `iter ${i} pk`).toBe(hex(b.publicKey));
      expect(hex(a.secretKey), `iter ${i} sk`).toBe(hex(b.secretKey));

      const msg = rng.bytes(rng.int(0, 2048));
      const ctx = i % 3 === 0 ? EMPTY : i % 7 === 1 ? rng.bytes(255) : rng.bytes(rng.int(1, 255));

      const det = ours.signWithRandomness(a.secretKey, msg, ctx, ZERO32);
      expect(hex(det), `iter ${i} deterministic`).toBe(hex(ref.sign(msg, b.secretKey, { context: ctx, extraEntropy: false })));

      const rnd = rng.bytes(32);
      const hed = ours.signWithRandomness(a.secretKey, msg, ctx, rnd);
      expect(hex(hed), `iter ${i} given rnd`).toBe(hex(ref.sign(msg, b.secretKey, { context: ctx, extraEntropy: rnd })));

      // fresh-randomness signatures, both directions
      const ourSig = ctx.length === 0 && i % 2 === 0 ? ours.sign(a.secretKey, msg) : ours.sign(a.secretKey, msg, ctx);
      expect(ref.verify(ourSig, msg, b.publicKey, { context: ctx }), `iter ${i} ref verifies ours`).toBe(true);
      const refSig = ref.sign(msg, b.secretKey, { context: ctx });
      expect(ours.verify(a.publicKey, msg, refSig, ctx), `iter ${i} ours verifies ref`).toBe(true);
      if (ctx.length === 0) expect(ours.verify(a.publicKey, msg, refSig), `iter ${i} default context`).toBe(true);

      // and both reject the wrong context / message
      const otherCtx = ctx.length === 0 ? utf8('x') : EMPTY;
      expect(ours.verify(a.publicKey, msg, refSig, otherCtx), `iter ${i} wrong ctx`).toBe(false);
      expect(ref.verify(ourSig, msg, b.publicKey, { context: otherCtx }), `iter ${i} ref wrong ctx`).toBe(false);
      const otherMsg = concat(msg, new Uint8Array([1]));
      expect(ours.verify(a.publicKey, otherMsg, refSig, ctx), `iter ${i} wrong msg`).toBe(false);
    }
  });
});

// ---------------------------------------------------------------------------------------------------
// Suite-level KEM / signature differentials (suites 1 and 2; suite 3 below)

describe('suite 1 (ML-DSA-87 empty context, ML-KEM-1024) vs @noble/post-quantum', () => {
  const s = getSuite(1);
  it('kem and sig byte-identical to the reference x10', () => {
    for (let i = 0; i < 10; i++) {
      const kseed = rng.bytes(64);
      const kp = s.kem.keygenFromSeed(kseed);
      const rk = ml_kem1024.keygen(kseed);
      expect(hex(kp.publicKey)).toBe(hex(rk.publicKey));
      expect(hex(kp.secretKey)).toBe(hex(rk.secretKey));
      const coins = rng.bytes(32);
      const e = s.kem.encapsWithCoins(kp.publicKey, coins);
      const re = ml_kem1024.encapsulate(rk.publicKey, coins);
      expect(hex(e.ciphertext)).toBe(hex(re.cipherText));
      expect(hex(e.sharedSecret)).toBe(hex(re.sharedSecret));
      expect(hex(s.kem.decaps(kp.secretKey, re.cipherText))).toBe(hex(re.sharedSecret));

      const sseed = rng.bytes(32);
      const sk = s.sig.keygenFromSeed(sseed);
      const rs = ml_dsa87.keygen(sseed);
      expect(hex(sk.publicKey)).toBe(hex(rs.publicKey));
      const msg = rng.bytes(rng.int(0, 1000));
      const rnd = rng.bytes(32);
      expect(hex(s.sig.signWithRandomness(sk.secretKey, msg, rnd))).toBe(hex(ml_dsa87.sign(msg, rs.secretKey, { extraEntropy: rnd })));
      expect(hex(s.sig.signWithRandomness(sk.secretKey, msg, ZERO32))).toBe(hex(ml_dsa87.sign(msg, rs.secretKey, { extraEntropy: false })));
      expect(ml_dsa87.verify(s.sig.sign(sk.secretKey, msg), msg, rs.publicKey)).toBe(true);
      expect(s.sig.verify(sk.publicKey, msg, ml_dsa87.sign(msg, rs.secretKey))).toBe(true);
    }
  });
});

describe('suite 2 signature (Ed25519) vs node:crypto', () => {
  const s = getSuite(2);
  it('keygenFromSeed / sign / verify byte-identical x10', () => {
    for (let i = 0; i < 10; i++) {
      const seed = rng.bytes(32);
      const kp = s.sig.keygenFromSeed(seed);
      const priv = nodePrivateKey('ed25519', seed);
      expect(hex(kp.publicKey)).toBe(hex(rawPublic(priv)));
      const msg = rng.bytes(rng.int(0, 1000));
      expect(hex(s.sig.sign(kp.secretKey, msg))).toBe(hex(u8(nodeSign(null, msg, priv))));
      expect(s.sig.verify(kp.publicKey, msg, u8(nodeSign(null, msg, priv)))).toBe(true);
    }
  });
});

// ---------------------------------------------------------------------------------------------------
// X-Wing (suite 3 kem)

describe('suite 3 KEM (X-Wing) vs @noble/post-quantum ml_kem768_x25519', () => {
  const s = getSuite(3);
  it(`keygenFromSeed, encapsWithCoins, decaps byte-identical x${ITER}`, () => {
    for (let i = 0; i < ITER; i++) {
      const seed = rng.bytes(32);
      const a = s.kem.keygenFromSeed(seed);
      const b = nobleXWing.keygen(seed);
      expect(hex(a.publicKey), `iter ${i} pk`).toBe(hex(b.publicKey));
      expect(hex(a.secretKey), `iter ${i} sk is the seed`).toBe(hex(seed));

      const coins = rng.bytes(64);
      const e1 = s.kem.encapsWithCoins(a.publicKey, coins);
      const e2 = nobleXWing.encapsulate(b.publicKey, coins);
      expect(hex(e1.ciphertext), `iter ${i} ct`).toBe(hex(e2.cipherText));
      expect(hex(e1.sharedSecret), `iter ${i} ss`).toBe(hex(e2.sharedSecret));
      expect(hex(s.kem.decaps(a.secretKey, e2.cipherText)), `iter ${i} decaps`).toBe(hex(e2.sharedSecret));

      const e3 = s.kem.encaps(a.publicKey);
      expect(hex(nobleXWing.decapsulate(e3.ciphertext, b.secretKey)), `iter ${i} ref decaps`).toBe(hex(e3.sharedSecret));

      // random ciphertext (ML-KEM part → implicit rejection; X25519 part a random u-coordinate)
      const junk = rng.bytes(s.params.kemCiphertextBytes);
      let refOut: string | undefined;
      try {
        refOut = hex(nobleXWing.decapsulate(junk, b.secretKey));
      } catch {
        refOut = undefined; // reference refused (e.g. a low-order u); extremely unlikely for random bytes
      }
      if (refOut !== undefined) expect(hex(s.kem.decaps(a.secretKey, junk)), `iter ${i} random ct`).toBe(refOut);
    }
  });
  it('random keygen(): the secret key is a seed that the reference expands to the same public key', () => {
    for (let i = 0; i < 10; i++) {
      const kp = s.kem.keygen();
      expect(kp.secretKey.length).toBe(32);
      expect(hex(nobleXWing.keygen(kp.secretKey).publicKey)).toBe(hex(kp.publicKey));
    }
  });
});

// ---------------------------------------------------------------------------------------------------
// DHKEM(X25519, HKDF-SHA256) (suite 2 kem): @hpke/core and an in-test RFC 9180 §4.1 reference

const KEM_SUITE_ID = concat(utf8('KEM'), new Uint8Array([0x00, 0x20])); // I2OSP(kem_id = 0x0020, 2)
const labeledExtract = (salt: Uint8Array, label: string, ikm: Uint8Array) => extract(nobleSha256, concat(utf8('HPKE-v1'), KEM_SUITE_ID, utf8(label), ikm), salt);
const labeledExpand = (prk: Uint8Array, label: string, info: Uint8Array, len: number) =>
  expand(nobleSha256, prk, concat(new Uint8Array([len >> 8, len & 0xff]), utf8('HPKE-v1'), KEM_SUITE_ID, utf8(label), info), len);
const refDeriveKeyPair = (ikm: Uint8Array) => {
  const sk = labeledExpand(labeledExtract(EMPTY, 'dkp_prk', ikm), 'sk', EMPTY, 32);
  return { secretKey: sk, publicKey: nobleX25519.getPublicKey(sk) };
};
const refExtractAndExpand = (dh: Uint8Array, kemContext: Uint8Array) => labeledExpand(labeledExtract(EMPTY, 'eae_prk', dh), 'shared_secret', kemContext, 32);
const refEncap = (pkR: Uint8Array, ikmE: Uint8Array) => {
  const e = refDeriveKeyPair(ikmE);
  const dh = nobleX25519.getSharedSecret(e.secretKey, pkR);
  return { enc: e.publicKey, sharedSecret: refExtractAndExpand(dh, concat(e.publicKey, pkR)) };
};
const refDecap = (skR: Uint8Array, enc: Uint8Array) => refExtractAndExpand(nobleX25519.getSharedSecret(skR, enc), concat(enc, nobleX25519.getPublicKey(skR)));

describe('suite 2 KEM (DHKEM(X25519, HKDF-SHA256)) vs @hpke/core and an RFC 9180 reference', () => {
  const s = getSuite(2);
  const hpke = new DhkemX25519HkdfSha256();

  it(`DeriveKeyPair / Encap with skE = DeriveKeyPair(ikmE) / Decap byte-identical x${ITER}`, async () => {
    for (let i = 0; i < ITER; i++) {
      const ikmR = rng.bytes(32);
      const ikmE = rng.bytes(32);
      const ours = s.kem.keygenFromSeed(ikmR);
      const kpR = await hpke.deriveKeyPair(ikmR);
      const hSk = u8(await hpke.serializePrivateKey(kpR.privateKey));
      const hPk = u8(await hpke.serializePublicKey(kpR.publicKey));
      const ref = refDeriveKeyPair(ikmR);
      expect(hex(hSk), `iter ${i} the two references agree (sk)`).toBe(hex(ref.secretKey));
      expect(hex(hPk), `iter ${i} the two references agree (pk)`).toBe(hex(ref.publicKey));
      expect(hex(ours.secretKey), `iter ${i} skR`).toBe(hex(hSk));
      expect(hex(ours.publicKey), `iter ${i} pkR`).toBe(hex(hPk));

      const e = s.kem.encapsWithCoins(ours.publicKey, ikmE);
      const he = await hpke.encap({ recipientPublicKey: kpR.publicKey, ekm: await hpke.deriveKeyPair(ikmE) });
      const re = refEncap(ref.publicKey, ikmE);
      expect(hex(u8(he.enc)), `iter ${i} references agree (enc)`).toBe(hex(re.enc));
      expect(hex(u8(he.sharedSecret)), `iter ${i} references agree (ss)`).toBe(hex(re.sharedSecret));
      expect(hex(e.ciphertext), `iter ${i} enc`).toBe(hex(u8(he.enc)));
      expect(hex(e.sharedSecret), `iter ${i} shared_secret`).toBe(hex(u8(he.sharedSecret)));

      expect(hex(s.kem.decaps(ours.secretKey, u8(he.enc))), `iter ${i} decaps`).toBe(hex(u8(he.sharedSecret)));
      const e2 = s.kem.encaps(ours.publicKey);
      const hd = await hpke.decap({ recipientKey: kpR, enc: e2.ciphertext });
      expect(hex(u8(hd)), `iter ${i} hpke decaps ours`).toBe(hex(e2.sharedSecret));
      expect(hex(refDecap(ref.secretKey, e2.ciphertext)), `iter ${i} ref decaps ours`).toBe(hex(e2.sharedSecret));
    }
  });

  it('random keygen() gives an X25519 key pair usable by @hpke/core', async () => {
    for (let i = 0; i < 5; i++) {
      const kp = s.kem.keygen();
      expect(hex(rawPublic(nodePrivateKey('x25519', kp.secretKey)))).toBe(hex(kp.publicKey));
      const he = await hpke.encap({ recipientPublicKey: await hpke.deserializePublicKey(kp.publicKey) });
      expect(hex(s.kem.decaps(kp.secretKey, u8(he.enc)))).toBe(hex(u8(he.sharedSecret)));
    }
  });
  // RFC 9180 Appendix A.1.1 known-answer values are not checked here: no installed package ships
  // them as data, and they are not to be typed in by hand.
});

// ---------------------------------------------------------------------------------------------------
// Hybrid signature (suite 3 sig): ML-DSA-65(ctx) ‖ Ed25519(ctx ‖ msg)

describe('suite 3 signature (ML-DSA-65 ‖ Ed25519) checked half by half', () => {
  const s = getSuite(3);
  const HS = utf8('pqe2ee/v1/hybrid-sig');
  const mSig = ml_dsa65.lengths.signature ?? 3309;
  it('keys are the concatenations; each half is the specified signature and verifies independently; flipping either half fails verify', () => {
    for (let i = 0; i < 20; i++) {
      const seed = rng.bytes(64);
      const xi = seed.subarray(0, 32);
      const edSeed = seed.subarray(32);
      const kp = s.sig.keygenFromSeed(seed);
      const m = ml_dsa65.keygen(xi);
      const edPriv = nodePrivateKey('ed25519', edSeed);
      const edPk = rawPublic(edPriv);
      expect(hex(kp.publicKey), `iter ${i} pk`).toBe(hex(concat(m.publicKey, edPk)));
      expect(hex(kp.secretKey), `iter ${i} sk`).toBe(hex(concat(m.secretKey, edSeed, edPk)));

      const msg = rng.bytes(rng.int(0, 1500));
      const rnd = i % 4 === 0 ? ZERO32 : rng.bytes(32);
      const sig = s.sig.signWithRandomness(kp.secretKey, msg, rnd);
      expect(sig.length).toBe(mSig + 64);
      const half1 = sig.subarray(0, mSig);
      const half2 = sig.subarray(mSig);
      expect(hex(half1), `iter ${i} ML-DSA half`).toBe(hex(ml_dsa65.sign(msg, m.secretKey, { context: HS, extraEntropy: rnd.every((b) => b === 0) ? false : rnd })));
      expect(ml_dsa65.verify(half1, msg, m.publicKey, { context: HS })).toBe(true);
      expect(hex(half2), `iter ${i} Ed25519 half`).toBe(hex(u8(nodeSign(null, concat(HS, msg), edPriv))));
      expect(nodeVerify(null, concat(HS, msg), nodePublicKey('ed25519', edPk), half2)).toBe(true);

      expect(s.sig.verify(kp.publicKey, msg, sig)).toBe(true);
      const p1 = rng.int(0, mSig - 1);
      const p2 = mSig + rng.int(0, 63);
      expect(s.sig.verify(kp.publicKey, msg, flipBit(sig, p1, i % 8)), `iter ${i} ML-DSA half flipped @${p1}`).toBe(false);
      expect(s.sig.verify(kp.publicKey, msg, flipBit(sig, p2, i % 8)), `iter ${i} Ed25519 half flipped @${p2}`).toBe(false);

      // independently assembled signature verifies; a valid half next to another message's half does not
      const assembled = concat(ml_dsa65.sign(msg, m.secretKey, { context: HS }), u8(nodeSign(null, concat(HS, msg), edPriv)));
      expect(s.sig.verify(kp.publicKey, msg, assembled), `iter ${i} assembled`).toBe(true);
      const other = concat(msg, new Uint8Array([0]));
      const mixed1 = concat(half1, u8(nodeSign(null, concat(HS, other), edPriv)));
      const mixed2 = concat(ml_dsa65.sign(other, m.secretKey, { context: HS }), half2);
      expect(s.sig.verify(kp.publicKey, msg, mixed1), `iter ${i} Ed25519 half over another message`).toBe(false);
      expect(s.sig.verify(kp.publicKey, msg, mixed2), `iter ${i} ML-DSA half over another message`).toBe(false);
      // the Ed25519 half without the domain prefix must not verify
      const noPrefix = concat(half1, u8(nodeSign(null, msg, edPriv)));
      expect(s.sig.verify(kp.publicKey, msg, noPrefix), `iter ${i} Ed25519 half without prefix`).toBe(false);

      // hedged sign: both halves verify with the references
      const hs = s.sig.sign(kp.secretKey, msg);
      expect(ml_dsa65.verify(hs.subarray(0, mSig), msg, m.publicKey, { context: HS })).toBe(true);
      expect(nodeVerify(null, concat(HS, msg), nodePublicKey('ed25519', edPk), hs.subarray(mSig))).toBe(true);
    }
  });
});

// ---------------------------------------------------------------------------------------------------
// node:crypto primitives

describe('AES-256-GCM vs node:crypto', () => {
  it('random plaintext lengths 0..5000 with random AAD: identical output, cross-decrypt x200', () => {
    for (let i = 0; i < 200; i++) {
      const key = rng.bytes(32);
      const nonce = rng.bytes(12);
      const pt = rng.bytes(i < 20 ? i : rng.int(0, 5000));
      const aad = i % 5 === 0 ? EMPTY : rng.bytes(rng.int(1, 600));
      const ref = nodeGcmEncrypt(key, nonce, pt, aad);
      const ct = aad.length === 0 && i % 10 === 0 ? aes256gcm.encrypt(key, nonce, pt) : aes256gcm.encrypt(key, nonce, pt, aad);
      expect(hex(ct), `iter ${i} len ${pt.length} aad ${aad.length}`).toBe(hex(ref));
      expect(hex(aes256gcm.decrypt(key, nonce, ref, aad)), `iter ${i} decrypt`).toBe(hex(pt));
    }
  });

  it('suite aead (platform hand-off for large payloads) is byte-identical to bindings aes256gcm and node, 0..2 MiB', () => {
    const t = (api as Record<string, unknown>)['PLATFORM_AEAD_THRESHOLD'];
    const sizes = new Set<number>([0, 1, 2, 15, 16, 17, 31, 32, 33, 63, 64, 65, 1000, 4095, 4096, 4097]);
    for (let k = 8; k <= 21; k++) for (const d of [-1, 0, 1]) sizes.add(2 ** k + d);
    if (typeof t === 'number' && t > 0) for (const d of [-17, -1, 0, 1, 16, 17]) sizes.add(t + d);
    for (let i = 0; i < 6; i++) sizes.add(rng.int(0, 2 * 1024 * 1024));
    const suites = [getSuite(1), getSuite(2), getSuite(3)];
    for (const n of [...sizes].filter((x) => x >= 0 && x <= 2 * 1024 * 1024 + 1).sort((a, b) => a - b)) {
      const key = rng.bytes(32);
      const nonce = rng.bytes(12);
      const pt = rng.bytes(n);
      const aad = n % 2 === 0 ? EMPTY : rng.bytes(rng.int(1, 64));
      const ref = nodeGcmEncrypt(key, nonce, pt, aad);
      const b = aes256gcm.encrypt(key, nonce, pt, aad);
      expect(hex(b) === hex(ref), `bindings size ${n}`).toBe(true);
      for (const s of suites) {
        const c = s.aead.encrypt(key, nonce, pt, aad);
        expect(c.length, `suite ${s.params.id} size ${n} length`).toBe(n + 16);
        expect(hex(c) === hex(ref), `suite ${s.params.id} size ${n} encrypt`).toBe(true);
        expect(hex(s.aead.decrypt(key, nonce, b, aad)) === hex(pt), `suite ${s.params.id} size ${n} decrypt`).toBe(true);
      }
      expect(hex(aes256gcm.decrypt(key, nonce, ref, aad)) === hex(pt), `bindings decrypt size ${n}`).toBe(true);
      expect(hex(nodeGcmDecrypt(key, nonce, b, aad)) === hex(pt), `node decrypts bindings size ${n}`).toBe(true);
    }
  });
});

describe('HKDF / HMAC / SHA-256 / SHA3-256 vs node:crypto', () => {
  it('hkdfSha256 === hkdfSync for random ikm / salt (incl. empty) / info / length 1..8160 x100', () => {
    const suites = [getSuite(1), getSuite(2), getSuite(3)];
    for (let i = 0; i < 100; i++) {
      const ikm = rng.bytes(rng.int(0, 128));
      const salt = i % 4 === 0 ? EMPTY : rng.bytes(rng.int(1, 128));
      const info = rng.bytes(rng.int(0, 256));
      const len = i === 0 ? 8160 : i === 1 ? 1 : i % 2 === 0 ? rng.int(1, 64) : rng.int(1, 8160);
      const ref = hex(u8(hkdfSync('sha256', ikm, salt, info, len)));
      expect(hex(hkdfSha256(ikm, salt, info, len)), `iter ${i}`).toBe(ref);
      const s = suites[i % 3];
      if (s) expect(hex(s.hkdf(ikm, salt, info, len)), `iter ${i} suite ${s.params.id}`).toBe(ref);
    }
  });

  it('hmacSha256 === createHmac for random key (0..200 bytes, incl. > block size) and message x100', () => {
    for (let i = 0; i < 100; i++) {
      const key = rng.bytes(i < 3 ? ([0, 64, 65][i] ?? 0) : rng.int(0, 200));
      const msg = rng.bytes(rng.int(0, 5000));
      const ref = hex(u8(createHmac('sha256', key).update(msg).digest()));
      expect(hex(hmacSha256(key, msg)), `iter ${i}`).toBe(ref);
      expect(hex(getSuite((i % 3) + 1).hmac(key, msg)), `iter ${i} suite`).toBe(ref);
    }
  });

  it('sha256 / sha3_256 === createHash at block boundaries and random lengths', () => {
    const lens = [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 135, 136, 137, 271, 272, 273];
    for (let i = 0; i < 60; i++) lens.push(rng.int(0, 10000));
    for (const n of lens) {
      const msg = rng.bytes(n);
      const r256 = hex(u8(createHash('sha256').update(msg).digest()));
      expect(hex(sha256(msg)), `sha256 len ${n}`).toBe(r256);
      expect(hex(getSuite((n % 3) + 1).hash(msg)), `suite hash len ${n}`).toBe(r256);
      expect(hex(sha3_256(msg)), `sha3_256 len ${n}`).toBe(hex(u8(createHash('sha3-256').update(msg).digest())));
    }
  });
});

describe('suite SHA-256 (platform hand-off for long inputs)', () => {
  // The hand-off sends long inputs to node:crypto, so comparing the suite hash with createHash alone
  // would compare OpenSSL with itself: both paths are checked against @noble/hashes as well.
  const threshold = api.PLATFORM_HASH_THRESHOLD;
  const nodeOnly = api.createSuiteHash(nodeCryptoModule, 0);
  const wasmOnly = api.createSuiteHash(undefined);

  it('both paths === @noble/hashes and createHash around the threshold, at block boundaries and up to 64 KiB', () => {
    const lens = new Set([0, 1, 55, 56, 63, 64, 65, 4160, 65_536]);
    for (const d of [-65, -1, 0, 1, 64]) lens.add(threshold + d);
    for (let i = 0; i < 40; i++) lens.add(rng.int(0, 20_000));
    for (const n of lens) {
      const msg = rng.bytes(n);
      const ref = hex(nobleSha256(msg));
      expect(hex(u8(createHash('sha256').update(msg).digest())), `createHash len ${n}`).toBe(ref);
      for (const [name, hash] of [
        ['node', nodeOnly],
        ['wasm', wasmOnly],
        ['suite 1', getSuite(1).hash],
        ['suite 3', getSuite(3).hash],
      ] as const) {
        expect(hex(hash(msg)), `${name} len ${n}`).toBe(ref);
      }
    }
  });

  it('FIPS 180-4 "abc" and the two-block example on both paths', () => {
    const vectors: [string, string][] = [
      ['abc', 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'],
      ['abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq', '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1'],
    ];
    for (const [text, digest] of vectors) {
      expect(hex(nodeOnly(utf8(text)))).toBe(digest);
      expect(hex(wasmOnly(utf8(text)))).toBe(digest);
    }
  });

  it('hands off exactly the inputs of at least the threshold, returns plain Uint8Arrays and checks its input on both paths', () => {
    let platformCalls = 0;
    const counting = {
      createHash: nodeCryptoModule.createHash,
      hash: (algorithm: string, data: Uint8Array) => {
        platformCalls += 1;
        return nodeCryptoModule.createHash(algorithm).update(data).digest();
      },
    };
    const hash = api.createSuiteHash(counting, threshold);
    hash(new Uint8Array(threshold - 1));
    expect(platformCalls).toBe(0);
    const digest = hash(new Uint8Array(threshold));
    expect(platformCalls).toBe(1);
    // A node Buffer's slice() is a view: callers that copy with slice() must get a real copy.
    expect(Object.getPrototypeOf(digest)).toBe(Uint8Array.prototype);
    for (const h of [nodeOnly, wasmOnly]) {
      expect(() => h('abc' as unknown as Uint8Array)).toThrow(api.InvalidTypeError);
    }
  });
});

describe('X25519 / Ed25519 vs node:crypto', () => {
  it(`x25519 publicKeyFromSecret / sharedSecret / scalarMult === node diffieHellman x${ITER}`, () => {
    for (let i = 0; i < ITER; i++) {
      const skA = rng.bytes(32);
      const skB = rng.bytes(32);
      const privA = nodePrivateKey('x25519', skA);
      const privB = nodePrivateKey('x25519', skB);
      const pkA = rawPublic(privA);
      const pkB = rawPublic(privB);
      expect(hex(x25519.publicKeyFromSecret(skA)), `iter ${i} pk`).toBe(hex(pkA));
      const ref = hex(u8(diffieHellman({ privateKey: privA, publicKey: nodePublicKey('x25519', pkB) })));
      expect(hex(x25519.sharedSecret(skA, pkB)), `iter ${i} shared`).toBe(ref);
      expect(hex(x25519.scalarMult(skA, pkB)), `iter ${i} scalarMult`).toBe(ref);
      expect(hex(x25519.sharedSecret(skB, pkA)), `iter ${i} shared (other side)`).toBe(ref);
    }
    for (let i = 0; i < 5; i++) {
      const kp = x25519.keygen();
      expect(hex(rawPublic(nodePrivateKey('x25519', kp.secretKey)))).toBe(hex(kp.publicKey));
    }
  });

  it(`ed25519 keygenFromSeed / sign / verify === node, both directions x${ITER}`, () => {
    for (let i = 0; i < ITER; i++) {
      const seed = rng.bytes(32);
      const kp = ed25519.keygenFromSeed(seed);
      const priv = nodePrivateKey('ed25519', seed);
      const pk = rawPublic(priv);
      expect(hex(kp.publicKey), `iter ${i} pk`).toBe(hex(pk));
      expect(hex(kp.secretKey), `iter ${i} sk = seed || pk`).toBe(hex(concat(seed, pk)));
      expect(hex(ed25519.publicKeyFromSecret(kp.secretKey)), `iter ${i} publicKeyFromSecret`).toBe(hex(pk));
      const msg = rng.bytes(rng.int(0, 2000));
      const ours = ed25519.sign(kp.secretKey, msg);
      const ref = u8(nodeSign(null, msg, priv));
      expect(hex(ours), `iter ${i} sig`).toBe(hex(ref));
      expect(nodeVerify(null, msg, nodePublicKey('ed25519', pk), ours), `iter ${i} node verifies ours`).toBe(true);
      expect(ed25519.verify(pk, msg, ref), `iter ${i} ours verifies node`).toBe(true);
      expect(ed25519.verify(pk, concat(msg, new Uint8Array([0])), ref), `iter ${i} other msg`).toBe(false);
    }
    for (let i = 0; i < 5; i++) {
      const kp = ed25519.keygen();
      expect(hex(rawPublic(nodePrivateKey('ed25519', kp.secretKey.subarray(0, 32))))).toBe(hex(kp.publicKey));
      expect(hex(kp.secretKey.subarray(32))).toBe(hex(kp.publicKey));
    }
  });
});
