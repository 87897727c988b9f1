// Shared, deterministic inputs: every implementation (pqe2ee and peers) is measured on the same
// keys, messages, nonces and ciphertexts. Reference material is produced with @noble/* and
// node:crypto from fixed seeds, independently of the implementation under test, and doubles as
// the expected output for the correctness check each case passes before it is timed.
import { createCipheriv } from 'node:crypto';
import { ml_kem1024, ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { ml_dsa87, ml_dsa65 } from '@noble/post-quantum/ml-dsa.js';
import { ml_kem768_x25519 } from '@noble/post-quantum/hybrid.js';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { sha3_256 } from '@noble/hashes/sha3.js';
import { hmac } from '@noble/hashes/hmac.js';
import { hkdf } from '@noble/hashes/hkdf.js';

/** Deterministic pseudo-random bytes (not cryptographic; fixtures only). */
export function fixture(n, tag) {
  const out = new Uint8Array(n);
  let x = 0x9e3779b9 ^ (tag * 0x85ebca6b);
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

export const SIZES = [
  { label: '64B', bytes: 64 },
  { label: '1KiB', bytes: 1024 },
  { label: '64KiB', bytes: 64 * 1024 },
  { label: '1MiB', bytes: 1024 * 1024 },
];

function kemFixture(n, tag) {
  const seed = fixture(n.lengths.seed, tag);
  const coins = fixture(n.lengths.msgRand ?? 32, tag + 1);
  const { publicKey, secretKey } = n.keygen(seed);
  const { cipherText, sharedSecret } = n.encapsulate(publicKey, coins);
  return { seed, coins, publicKey, secretKey, ciphertext: cipherText, sharedSecret };
}

function dsaFixture(n, tag, message) {
  const seed = fixture(32, tag);
  const { publicKey, secretKey } = n.keygen(seed);
  const signature = n.sign(message, secretKey, { extraEntropy: false });
  return { seed, publicKey, secretKey, message, signature };
}

function gcmEncrypt(key, nonce, pt) {
  const c = createCipheriv('aes-256-gcm', key, nonce);
  const a = c.update(pt);
  const b = c.final();
  const out = new Uint8Array(a.length + b.length + 16);
  out.set(a, 0);
  out.set(b, a.length);
  out.set(c.getAuthTag(), a.length + b.length);
  return out;
}

export function makeInputs() {
  const msg1k = fixture(1024, 100);
  const msg64 = fixture(64, 101);

  const edSeed = fixture(32, 200);
  const edPk = ed25519.getPublicKey(edSeed);
  const edSk64 = new Uint8Array(64);
  edSk64.set(edSeed);
  edSk64.set(edPk, 32);

  const xA = fixture(32, 210),
    xB = fixture(32, 211);
  const xPkA = x25519.getPublicKey(xA),
    xPkB = x25519.getPublicKey(xB);

  const aesKey = fixture(32, 300),
    nonce = fixture(12, 301);
  const aes = Object.fromEntries(
    SIZES.map(({ label, bytes }, i) => {
      const plaintext = fixture(bytes, 310 + i);
      return [label, { bytes, plaintext, ciphertext: gcmEncrypt(aesKey, nonce, plaintext) }];
    }),
  );

  const ikm = fixture(32, 400),
    salt = fixture(32, 401),
    info = fixture(16, 402);
  const hmacKey = fixture(32, 410);

  return {
    mlkem1024: kemFixture(ml_kem1024, 1),
    mlkem768: kemFixture(ml_kem768, 3),
    xwing: kemFixture(ml_kem768_x25519, 5),
    mldsa87: dsaFixture(ml_dsa87, 7, msg1k),
    mldsa65: dsaFixture(ml_dsa65, 8, msg1k),
    ed25519: { seed: edSeed, publicKey: edPk, secretKey64: edSk64, message: msg1k, signature: ed25519.sign(msg1k, edSeed) },
    x25519: { secretA: xA, publicA: xPkA, secretB: xB, publicB: xPkB, shared: x25519.getSharedSecret(xA, xPkB) },
    aes: { key: aesKey, nonce, ...aes },
    hkdf: { ikm, salt, info, length: 64, expected: hkdf(sha256, ikm, salt, info, 64) },
    hmac: { key: hmacKey, message: msg64, expected: hmac(sha256, hmacKey, msg64) },
    hash: {
      '64B': { message: msg64, sha256: sha256(msg64), sha3_256: sha3_256(msg64) },
      '1KiB': { message: msg1k, sha256: sha256(msg1k), sha3_256: sha3_256(msg1k) },
    },
    msg1k,
    msg64,
  };
}

export function equalBytes(a, b) {
  if (!(a instanceof Uint8Array)) a = new Uint8Array(a.buffer ?? a, a.byteOffset ?? 0, a.byteLength);
  if (!(b instanceof Uint8Array)) b = new Uint8Array(b.buffer ?? b, b.byteOffset ?? 0, b.byteLength);
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
