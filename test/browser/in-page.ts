// Code that runs inside the browser page (served to it transpiled by esbuild, see static-server.ts)
// and, for the deterministic vectors, also in Node against src/. It takes the crypto API as an
// argument and has no runtime imports, so the very same source drives both sides.
// Results are plain JSON (hex strings, booleans, error codes): the Node test does the asserting.
import type * as CryptoModule from '../../src/crypto/index.js';

/** The API of `pqe2ee/crypto`: src/crypto/index.ts in Node, /dist/crypto.js in the browser. */
export type CryptoApi = typeof CryptoModule;

export function toHex(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out;
}

/** `length` fixed, non-trivial bytes, distinct per `tag`. */
export function pattern(length: number, tag: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 29 + tag * 101 + 7) & 0xff;
  return out;
}

/** The fixed inputs of {@link deterministicVectors} (the Node test reuses them for independent checks). */
export function fixedInputs() {
  return {
    mlkemSeed: pattern(64, 1),
    mlkemCoins: pattern(32, 2),
    mldsaSeed: pattern(32, 3),
    mldsaRnd: pattern(32, 4),
    message: new TextEncoder().encode('pqe2ee: browser and Node must agree byte for byte'),
    context: pattern(11, 5),
    aesKey: pattern(32, 6),
    aesNonce: pattern(12, 7),
    aad: pattern(20, 8),
    shortPlaintext: pattern(37, 9),
    longPlaintext: pattern(1000, 10),
    hkdfIkm: pattern(22, 11),
    hkdfSalt: pattern(13, 12),
    hkdfInfo: pattern(10, 13),
    hmacKey: pattern(40, 14),
    x25519SecretA: pattern(32, 15),
    x25519SecretB: pattern(32, 16),
    ed25519Seed: pattern(32, 17),
    /** >= PLATFORM_AEAD_THRESHOLD: node:crypto in Node, the wasm core in the browser. */
    suitePlaintext: pattern(200, 18),
  };
}

/** Deterministic outputs of every primitive and suite on fixed inputs, as name -> hex. */
export function deterministicVectors(api: CryptoApi): Record<string, string> {
  const i = fixedInputs();
  const v: Record<string, string> = {};
  const empty = new Uint8Array(0);

  const kem = api.mlkem1024.keygenFromSeed(i.mlkemSeed);
  v['mlkem1024.publicKey'] = toHex(kem.publicKey);
  v['mlkem1024.secretKey'] = toHex(kem.secretKey);
  const enc = api.mlkem1024.encapsWithCoins(kem.publicKey, i.mlkemCoins);
  v['mlkem1024.ciphertext'] = toHex(enc.ciphertext);
  v['mlkem1024.sharedSecret'] = toHex(enc.sharedSecret);
  v['mlkem1024.decaps'] = toHex(api.mlkem1024.decaps(kem.secretKey, enc.ciphertext));

  const kem768 = api.mlkem768.keygenFromSeed(i.mlkemSeed);
  v['mlkem768.publicKey'] = toHex(kem768.publicKey);
  const enc768 = api.mlkem768.encapsWithCoins(kem768.publicKey, i.mlkemCoins);
  v['mlkem768.ciphertext'] = toHex(enc768.ciphertext);
  v['mlkem768.sharedSecret'] = toHex(enc768.sharedSecret);

  const dsa = api.mldsa87.keygenFromSeed(i.mldsaSeed);
  v['mldsa87.publicKey'] = toHex(dsa.publicKey);
  v['mldsa87.signature.rnd'] = toHex(api.mldsa87.signWithRandomness(dsa.secretKey, i.message, empty, i.mldsaRnd));
  v['mldsa87.signature.zeroRnd.context'] = toHex(api.mldsa87.signWithRandomness(dsa.secretKey, i.message, i.context, new Uint8Array(32)));
  const dsa65 = api.mldsa65.keygenFromSeed(i.mldsaSeed);
  v['mldsa65.publicKey'] = toHex(dsa65.publicKey);
  v['mldsa65.signature.rnd'] = toHex(api.mldsa65.signWithRandomness(dsa65.secretKey, i.message, empty, i.mldsaRnd));

  v['aes256gcm.short'] = toHex(api.aes256gcm.encrypt(i.aesKey, i.aesNonce, i.shortPlaintext, i.aad));
  v['aes256gcm.long'] = toHex(api.aes256gcm.encrypt(i.aesKey, i.aesNonce, i.longPlaintext, i.aad));
  v['aes256gcm.emptyPlaintext'] = toHex(api.aes256gcm.encrypt(i.aesKey, i.aesNonce, empty, i.aad));

  v['hkdfSha256.42'] = toHex(api.hkdfSha256(i.hkdfIkm, i.hkdfSalt, i.hkdfInfo, 42));
  v['hkdfSha256.emptySalt.100'] = toHex(api.hkdfSha256(i.hkdfIkm, empty, i.hkdfInfo, 100));
  v['hmacSha256'] = toHex(api.hmacSha256(i.hmacKey, i.message));
  v['sha256'] = toHex(api.sha256(i.message));
  v['sha256.long'] = toHex(api.sha256(i.longPlaintext));
  v['sha256.empty'] = toHex(api.sha256(empty));
  v['sha3_256'] = toHex(api.sha3_256(i.message));
  v['shake256.77'] = toHex(api.shake256(i.message, 77));

  const pubA = api.x25519.publicKeyFromSecret(i.x25519SecretA);
  const pubB = api.x25519.publicKeyFromSecret(i.x25519SecretB);
  v['x25519.publicKeyA'] = toHex(pubA);
  v['x25519.publicKeyB'] = toHex(pubB);
  v['x25519.scalarMult'] = toHex(api.x25519.scalarMult(i.x25519SecretA, pubB));
  v['x25519.sharedSecret.BA'] = toHex(api.x25519.sharedSecret(i.x25519SecretB, pubA));

  const ed = api.ed25519.keygenFromSeed(i.ed25519Seed);
  v['ed25519.publicKey'] = toHex(ed.publicKey);
  v['ed25519.signature'] = toHex(api.ed25519.sign(ed.secretKey, i.message));
  v['ed25519.verify'] = String(api.ed25519.verify(ed.publicKey, i.message, api.ed25519.sign(ed.secretKey, i.message)));

  for (const id of [1, 2, 3] as const) {
    const suite = api.getSuite(id);
    const p = suite.params;
    const k = suite.kem.keygenFromSeed(pattern(p.kemSeedBytes, 20 + id));
    v[`suite${id}.kem.publicKey`] = toHex(k.publicKey);
    const e = suite.kem.encapsWithCoins(k.publicKey, pattern(p.kemCoinsBytes, 30 + id));
    v[`suite${id}.kem.ciphertext`] = toHex(e.ciphertext);
    v[`suite${id}.kem.sharedSecret`] = toHex(e.sharedSecret);
    v[`suite${id}.kem.decaps`] = toHex(suite.kem.decaps(k.secretKey, e.ciphertext));
    const s = suite.sig.keygenFromSeed(pattern(p.sigSeedBytes, 40 + id));
    v[`suite${id}.sig.publicKey`] = toHex(s.publicKey);
    v[`suite${id}.sig.signature`] = toHex(suite.sig.signWithRandomness(s.secretKey, i.message, pattern(p.sigRandomnessBytes, 50 + id)));
    v[`suite${id}.aead.200`] = toHex(suite.aead.encrypt(i.aesKey, i.aesNonce, i.suitePlaintext, i.aad));
    v[`suite${id}.aead.short`] = toHex(suite.aead.encrypt(i.aesKey, i.aesNonce, i.shortPlaintext));
    v[`suite${id}.hash`] = toHex(suite.hash(i.message));
    v[`suite${id}.hkdf`] = toHex(suite.hkdf(i.hkdfIkm, i.hkdfSalt, i.hkdfInfo, 64));
    v[`suite${id}.hmac`] = toHex(suite.hmac(i.hmacKey, i.message));
  }
  return v;
}

/** What a call threw (or that it did not), in JSON-safe form. */
export interface Outcome {
  threw: boolean;
  name?: string;
  code?: unknown;
  message?: string;
  isPqe2eeError?: boolean;
}

export function outcome(api: CryptoApi, fn: () => unknown): Outcome {
  try {
    fn();
    return { threw: false };
  } catch (error) {
    const e = error as { name?: unknown; code?: unknown; message?: unknown };
    return {
      threw: true,
      name: String(e?.name),
      code: e?.code,
      message: String(e?.message),
      isPqe2eeError: error instanceof api.Pqe2eeError,
    };
  }
}

function flip(bytes: Uint8Array, index: number): Uint8Array {
  const copy = Uint8Array.from(bytes);
  copy[index] = (copy[index] ?? 0) ^ 0x01;
  return copy;
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, j) => x === b[j]);
}

export interface SuiteRoundtrip {
  id: number;
  name: string;
  kemSharedSecretsEqual: boolean;
  kemSharedSecretLength: number;
  kemFreshKeysDiffer: boolean;
  sigValid: boolean;
  sigFlippedRejected: boolean;
  sigFlippedLastByteRejected: boolean;
  sigWrongMessageRejected: boolean;
  aead: Array<{
    length: number;
    roundtrip: boolean;
    ciphertextLength: number;
    tamperedCiphertext: Outcome;
    tamperedTag: Outcome;
    wrongAad: Outcome;
  }>;
}

/** Random-key roundtrips of every suite (KEM, signature, AEAD) and the errors on tampering. */
export function suiteRoundtrips(api: CryptoApi): SuiteRoundtrip[] {
  const message = new TextEncoder().encode('hello from the browser');
  return ([1, 2, 3] as const).map((id) => {
    const suite = api.getSuite(id);
    const kp = suite.kem.keygen();
    const other = suite.kem.keygen();
    const enc = suite.kem.encaps(kp.publicKey);
    const ss = suite.kem.decaps(kp.secretKey, enc.ciphertext);

    const sk = suite.sig.keygen();
    const sig = suite.sig.sign(sk.secretKey, message);

    const key = api.randomBytes(32);
    const nonce = api.randomBytes(12);
    const aad = new TextEncoder().encode('header');
    // 1 MiB + 1 grows wasm memory past the retained scratch region (bindings/memory.ts).
    const aead = [0, 1, 33, 200, 5000, 1_048_577].map((length) => {
      const plaintext = api.randomBytes(length);
      const ct = suite.aead.encrypt(key, nonce, plaintext, aad);
      return {
        length,
        roundtrip: same(suite.aead.decrypt(key, nonce, ct, aad), plaintext),
        ciphertextLength: ct.length,
        tamperedCiphertext: outcome(api, () => suite.aead.decrypt(key, nonce, flip(ct, 0), aad)),
        tamperedTag: outcome(api, () => suite.aead.decrypt(key, nonce, flip(ct, ct.length - 1), aad)),
        wrongAad: outcome(api, () => suite.aead.decrypt(key, nonce, ct, new TextEncoder().encode('Header'))),
      };
    });

    return {
      id,
      name: suite.params.name,
      kemSharedSecretsEqual: same(ss, enc.sharedSecret),
      kemSharedSecretLength: ss.length,
      kemFreshKeysDiffer: !same(kp.publicKey, other.publicKey),
      sigValid: suite.sig.verify(sk.publicKey, message, sig),
      sigFlippedRejected: !suite.sig.verify(sk.publicKey, message, flip(sig, 0)),
      sigFlippedLastByteRejected: !suite.sig.verify(sk.publicKey, message, flip(sig, sig.length - 1)),
      sigWrongMessageRejected: !suite.sig.verify(sk.publicKey, flip(message, 3), sig),
      aead,
    };
  });
}

export interface FirstUse {
  /** The synchronous first use (before any `ready()`). */
  sync: Outcome;
  syncSha256?: string;
  /** SHA-256 of the same input after `await ready()`. */
  afterReadySha256: string;
}

/** Uses the core synchronously on a page where `ready()` was never called, then calls `ready()`. */
export async function firstUseWithoutReady(api: CryptoApi): Promise<FirstUse> {
  const input = fixedInputs().message;
  let syncSha256: string | undefined;
  const sync = outcome(api, () => {
    syncSha256 = toHex(api.sha256(input));
  });
  await api.ready();
  const result: FirstUse = { sync, afterReadySha256: toHex(api.sha256(input)) };
  if (syncSha256 !== undefined) result.syncSha256 = syncSha256;
  return result;
}
