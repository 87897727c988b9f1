// Cipher-suite registry and per-suite behaviour. Sizes are checked against the docs
// (docs/crypto-api.md), against FIPS 203/204 sizes as reported by @noble/post-quantum, and against the
// actual outputs of each operation.
import { createHash, createHmac, hkdfSync } from 'node:crypto';
import { ml_kem768_x25519 } from '@noble/post-quantum/hybrid.js';
import { ml_dsa65, ml_dsa87 } from '@noble/post-quantum/ml-dsa.js';
import { ml_kem1024 } from '@noble/post-quantum/ml-kem.js';
import { describe, expect, it } from 'vitest';
import { getSuite, listSuites, UnknownSuiteError } from '../src/crypto/index.js';
import { Drbg, equalBytes, flipBit, hex, utf8 } from './support/index.js';

const rng = Drbg.fromEnv('suites');

const NAMES: Record<number, string> = {
  1: 'PQ_MLDSA87_MLKEM1024_AES256GCM_SHA256',
  2: 'CLASSIC_ED25519_X25519_AES256GCM_SHA256',
  3: 'HYBRID_MLDSA65ED25519_XWING_AES256GCM_SHA256',
};

const req = (n: number | undefined, what: string): number => {
  if (n === undefined) throw new Error(`reference length ${what} missing`);
  return n;
};

/** Expected sizes: from the reference implementations' reported lengths and the doc's table. */
const EXPECTED: Record<number, Record<string, number>> = {
  1: {
    kemPublicKeyBytes: req(ml_kem1024.lengths.publicKey, 'mlkem pk'),
    kemSecretKeyBytes: req(ml_kem1024.lengths.secretKey, 'mlkem sk'),
    kemCiphertextBytes: req(ml_kem1024.lengths.cipherText, 'mlkem ct'),
    kemSeedBytes: 64,
    kemCoinsBytes: 32,
    sharedSecretBytes: 32,
    sigPublicKeyBytes: req(ml_dsa87.lengths.publicKey, 'mldsa pk'),
    sigSecretKeyBytes: req(ml_dsa87.lengths.secretKey, 'mldsa sk'),
    signatureBytes: req(ml_dsa87.lengths.signature, 'mldsa sig'),
    sigSeedBytes: 32,
    sigRandomnessBytes: 32,
  },
  2: {
    kemPublicKeyBytes: 32,
    kemSecretKeyBytes: 32,
    kemCiphertextBytes: 32,
    kemSeedBytes: 32,
    kemCoinsBytes: 32,
    sharedSecretBytes: 32,
    sigPublicKeyBytes: 32,
    sigSecretKeyBytes: 64,
    signatureBytes: 64,
    sigSeedBytes: 32,
  },
  3: {
    kemPublicKeyBytes: req(ml_kem768_x25519.lengths.publicKey, 'xwing pk'),
    kemSecretKeyBytes: 32,
    kemCiphertextBytes: req(ml_kem768_x25519.lengths.cipherText, 'xwing ct'),
    kemSeedBytes: 32,
    kemCoinsBytes: 64,
    sharedSecretBytes: 32,
    sigPublicKeyBytes: req(ml_dsa65.lengths.publicKey, 'mldsa65 pk') + 32,
    sigSecretKeyBytes: req(ml_dsa65.lengths.secretKey, 'mldsa65 sk') + 64,
    signatureBytes: req(ml_dsa65.lengths.signature, 'mldsa65 sig') + 64,
    sigSeedBytes: 64,
    sigRandomnessBytes: 32,
  },
};
const SYMMETRIC = { aeadKeyBytes: 32, aeadNonceBytes: 12, aeadTagBytes: 16, hashBytes: 32 };

describe('suite registry', () => {
  it('listSuites() gives ids 1, 2, 3 in order with the documented names', () => {
    const list = listSuites();
    expect(list.map((s) => s.params.id)).toEqual([1, 2, 3]);
    for (const s of list) expect(s.params.name).toBe(NAMES[s.params.id]);
  });

  it('getSuite by id and by name give the same suite', () => {
    for (const id of [1, 2, 3]) {
      const name = NAMES[id] as string;
      const byId = getSuite(id);
      const byName = getSuite(name);
      expect(byId.params.id).toBe(id);
      expect(byName.params.id).toBe(id);
      expect(byName.params).toEqual(byId.params);
      expect(byName.params.name).toBe(name);
    }
  });

  it('listSuites() returns a fresh array: mutating it does not affect the registry', () => {
    const list = listSuites();
    list.pop();
    list.push(list[0] as (typeof list)[number]);
    expect(listSuites().map((s) => s.params.id)).toEqual([1, 2, 3]);
  });

  it('unknown ids and names → UnknownSuiteError', () => {
    for (const x of [0, 4, 'PQ', NAMES[1]?.toLowerCase() ?? '']) {
      let err: unknown;
      try {
        getSuite(x);
      } catch (e) {
        err = e;
      }
      expect(err, `getSuite(${JSON.stringify(x)})`).toBeInstanceOf(UnknownSuiteError);
      expect((err as { code?: string }).code).toBe('ERR_UNKNOWN_SUITE');
    }
  });
});

describe.each([1, 2, 3])('suite %i', (id) => {
  const s = getSuite(id);
  const p = s.params;

  it('params match the documented / FIPS sizes', () => {
    const exp = { ...(EXPECTED[id] as Record<string, number>), ...SYMMETRIC };
    const got = p as unknown as Record<string, unknown>;
    for (const [k, v] of Object.entries(exp)) expect(got[k], `params.${k}`).toBe(v);
    expect(Number.isInteger(p.sigRandomnessBytes) && p.sigRandomnessBytes >= 0).toBe(true);
  });

  it('params sizes match the actual outputs of every operation', () => {
    const kp = s.kem.keygen();
    expect(kp.publicKey.length).toBe(p.kemPublicKeyBytes);
    expect(kp.secretKey.length).toBe(p.kemSecretKeyBytes);
    const kp2 = s.kem.keygenFromSeed(rng.bytes(p.kemSeedBytes));
    expect(kp2.publicKey.length).toBe(p.kemPublicKeyBytes);
    expect(kp2.secretKey.length).toBe(p.kemSecretKeyBytes);
    const e = s.kem.encaps(kp.publicKey);
    expect(e.ciphertext.length).toBe(p.kemCiphertextBytes);
    expect(e.sharedSecret.length).toBe(p.sharedSecretBytes);
    const e2 = s.kem.encapsWithCoins(kp.publicKey, rng.bytes(p.kemCoinsBytes));
    expect(e2.ciphertext.length).toBe(p.kemCiphertextBytes);
    expect(e2.sharedSecret.length).toBe(p.sharedSecretBytes);
    expect(s.kem.decaps(kp.secretKey, e.ciphertext).length).toBe(p.sharedSecretBytes);

    const sk = s.sig.keygen();
    expect(sk.publicKey.length).toBe(p.sigPublicKeyBytes);
    expect(sk.secretKey.length).toBe(p.sigSecretKeyBytes);
    const sk2 = s.sig.keygenFromSeed(rng.bytes(p.sigSeedBytes));
    expect(sk2.publicKey.length).toBe(p.sigPublicKeyBytes);
    expect(sk2.secretKey.length).toBe(p.sigSecretKeyBytes);
    expect(s.sig.sign(sk.secretKey, utf8('m')).length).toBe(p.signatureBytes);
    expect(s.sig.signWithRandomness(sk.secretKey, utf8('m'), rng.bytes(p.sigRandomnessBytes)).length).toBe(p.signatureBytes);

    const key = rng.bytes(p.aeadKeyBytes);
    const nonce = rng.bytes(p.aeadNonceBytes);
    for (const n of [0, 1, 100, 1000]) expect(s.aead.encrypt(key, nonce, rng.bytes(n)).length).toBe(n + p.aeadTagBytes);
    expect(s.hash(utf8('x')).length).toBe(p.hashBytes);
    expect(s.hmac(key, utf8('x')).length).toBe(p.hashBytes);
  });

  it('kem roundtrip: encaps/decaps agree; distinct key pairs and encapsulations differ', () => {
    for (let i = 0; i < 5; i++) {
      const kp = s.kem.keygen();
      const e = s.kem.encaps(kp.publicKey);
      expect(hex(s.kem.decaps(kp.secretKey, e.ciphertext))).toBe(hex(e.sharedSecret));
      const e2 = s.kem.encaps(kp.publicKey);
      expect(hex(e2.ciphertext)).not.toBe(hex(e.ciphertext));
      expect(hex(e2.sharedSecret)).not.toBe(hex(e.sharedSecret));
      const other = s.kem.keygen();
      expect(hex(other.publicKey)).not.toBe(hex(kp.publicKey));
      expect(hex(s.kem.decaps(other.secretKey, e.ciphertext))).not.toBe(hex(e.sharedSecret));
    }
  });

  it('kem deterministic forms: keygenFromSeed and encapsWithCoins are reproducible and input-sensitive', () => {
    const seed = rng.bytes(p.kemSeedBytes);
    const a = s.kem.keygenFromSeed(seed);
    const b = s.kem.keygenFromSeed(Uint8Array.from(seed));
    expect(hex(b.publicKey)).toBe(hex(a.publicKey));
    expect(hex(b.secretKey)).toBe(hex(a.secretKey));
    expect(hex(s.kem.keygenFromSeed(flipBit(seed, 0)).publicKey)).not.toBe(hex(a.publicKey));
    // (for ML-KEM the seed's last half is z, which only enters the secret key)
    expect(hex(s.kem.keygenFromSeed(flipBit(seed, seed.length - 1)).secretKey)).not.toBe(hex(a.secretKey));
    const coins = rng.bytes(p.kemCoinsBytes);
    const e1 = s.kem.encapsWithCoins(a.publicKey, coins);
    const e2 = s.kem.encapsWithCoins(a.publicKey, Uint8Array.from(coins));
    expect(hex(e2.ciphertext)).toBe(hex(e1.ciphertext));
    expect(hex(e2.sharedSecret)).toBe(hex(e1.sharedSecret));
    expect(hex(s.kem.decaps(a.secretKey, e1.ciphertext))).toBe(hex(e1.sharedSecret));
    const e3 = s.kem.encapsWithCoins(a.publicKey, flipBit(coins, 0));
    expect(hex(e3.sharedSecret)).not.toBe(hex(e1.sharedSecret));
  });

  it('sig roundtrip: sign/verify; other message, other key → false', () => {
    for (let i = 0; i < 3; i++) {
      const kp = s.sig.keygen();
      const msg = rng.bytes(rng.int(0, 500));
      const sig = s.sig.sign(kp.secretKey, msg);
      expect(s.sig.verify(kp.publicKey, msg, sig)).toBe(true);
      expect(s.sig.verify(kp.publicKey, utf8('another message'), sig)).toBe(false);
      expect(s.sig.verify(s.sig.keygen().publicKey, msg, sig)).toBe(false);
    }
  });

  it('sig deterministic forms: keygenFromSeed and signWithRandomness are reproducible; sign is hedged where the scheme is randomized', () => {
    const seed = rng.bytes(p.sigSeedBytes);
    const a = s.sig.keygenFromSeed(seed);
    const b = s.sig.keygenFromSeed(Uint8Array.from(seed));
    expect(hex(b.publicKey)).toBe(hex(a.publicKey));
    expect(hex(b.secretKey)).toBe(hex(a.secretKey));
    expect(hex(s.sig.keygenFromSeed(flipBit(seed, 0)).publicKey)).not.toBe(hex(a.publicKey));
    if (id === 3) {
      // each half of the seed matters (ML-DSA xi ‖ Ed25519 seed)
      expect(hex(s.sig.keygenFromSeed(flipBit(seed, 63)).publicKey)).not.toBe(hex(a.publicKey));
    }
    const msg = utf8('deterministic');
    const rnd = rng.bytes(p.sigRandomnessBytes);
    const s1 = s.sig.signWithRandomness(a.secretKey, msg, rnd);
    const s2 = s.sig.signWithRandomness(a.secretKey, msg, Uint8Array.from(rnd));
    expect(hex(s2)).toBe(hex(s1));
    expect(s.sig.verify(a.publicKey, msg, s1)).toBe(true);
    const h1 = s.sig.sign(a.secretKey, msg);
    const h2 = s.sig.sign(a.secretKey, msg);
    expect(s.sig.verify(a.publicKey, msg, h1)).toBe(true);
    expect(s.sig.verify(a.publicKey, msg, h2)).toBe(true);
    if (id === 2) {
      // Ed25519 is deterministic: every form gives the same signature.
      expect(hex(h1)).toBe(hex(h2));
      expect(hex(h1)).toBe(hex(s1));
    } else {
      // ML-DSA sign() uses fresh randomness; a different rnd gives a different signature.
      expect(hex(h1)).not.toBe(hex(h2));
      expect(hex(s.sig.signWithRandomness(a.secretKey, msg, flipBit(rnd, 0)))).not.toBe(hex(s1));
    }
  });

  it('aead roundtrip with and without AAD; default AAD is empty; wrong AAD fails', () => {
    const key = rng.bytes(p.aeadKeyBytes);
    const nonce = rng.bytes(p.aeadNonceBytes);
    for (const n of [0, 1, 16, 127, 128, 129, 5000]) {
      const pt = rng.bytes(n);
      const aad = rng.bytes(13);
      const ct = s.aead.encrypt(key, nonce, pt, aad);
      expect(equalBytes(s.aead.decrypt(key, nonce, ct, aad), pt), `size ${n}`).toBe(true);
      const ct0 = s.aead.encrypt(key, nonce, pt);
      expect(hex(s.aead.encrypt(key, nonce, pt, new Uint8Array(0)))).toBe(hex(ct0));
      expect(equalBytes(s.aead.decrypt(key, nonce, ct0), pt)).toBe(true);
      expect(() => s.aead.decrypt(key, nonce, ct0, aad)).toThrow();
      expect(() => s.aead.decrypt(key, nonce, ct)).toThrow();
    }
  });

  it('hash / hmac / hkdf are SHA-256 based and match node:crypto', () => {
    const m = rng.bytes(777);
    const k = rng.bytes(40);
    expect(hex(s.hash(m))).toBe(createHash('sha256').update(m).digest('hex'));
    expect(hex(s.hmac(k, m))).toBe(createHmac('sha256', k).update(m).digest('hex'));
    expect(hex(s.hkdf(k, m.subarray(0, 16), m.subarray(16, 48), 100))).toBe(Buffer.from(hkdfSync('sha256', k, m.subarray(0, 16), m.subarray(16, 48), 100)).toString('hex'));
  });
});
