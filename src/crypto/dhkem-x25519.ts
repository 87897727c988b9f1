/**
 * DHKEM(X25519, HKDF-SHA256), KEM id 0x0020, exactly as RFC 9180 §4.1 and §7.1 define it.
 * Secret keys are 32 bytes, public keys and encapsulations ("enc") 32 bytes, shared secrets 32.
 */
import { hmacSha256, x25519 } from '../../bindings/index.js';
import { requireBytes, withRandomBytes } from '../../bindings/memory.js';
import { concatBytes, i2osp, label, wipe } from './bytes.js';
import type { Encapsulation, Kem, KeyPair } from './suite.js';

const KEM_SUITE_ID = concatBytes(label('KEM'), i2osp(0x0020, 2));
const HPKE_VERSION = label('HPKE-v1');
const EMPTY = new Uint8Array(0);
const N_SECRET = 32;
export const DHKEM_X25519_SEED_BYTES = 32;

/** RFC 9180 LabeledExtract(salt, label, ikm) = HKDF-Extract(salt, "HPKE-v1" ‖ suite_id ‖ label ‖ ikm). */
function labeledExtract(salt: Uint8Array, name: string, ikm: Uint8Array): Uint8Array {
  const labeledIkm = concatBytes(HPKE_VERSION, KEM_SUITE_ID, label(name), ikm);
  // HKDF-Extract is HMAC(salt, ikm); an empty salt is a zero-length HMAC key (= 32 zero bytes).
  const prk = hmacSha256(salt, labeledIkm);
  wipe(labeledIkm);
  return prk;
}

/** RFC 9180 LabeledExpand(prk, label, info, L) = HKDF-Expand(prk, I2OSP(L,2) ‖ "HPKE-v1" ‖ suite_id ‖ label ‖ info, L). */
function labeledExpand(prk: Uint8Array, name: string, info: Uint8Array, length: number): Uint8Array {
  const labeledInfo = concatBytes(i2osp(length, 2), HPKE_VERSION, KEM_SUITE_ID, label(name), info);
  return hkdfExpand(prk, labeledInfo, length);
}

/** HKDF-Expand alone: T(1) = HMAC(prk, info ‖ 0x01), ... (length <= 32 is all DHKEM needs). */
function hkdfExpand(prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  const block = hmacSha256(prk, concatBytes(info, new Uint8Array([1])));
  const out = block.slice(0, length);
  wipe(block);
  return out;
}

function extractAndExpand(dh: Uint8Array, kemContext: Uint8Array): Uint8Array {
  const eaePrk = labeledExtract(EMPTY, 'eae_prk', dh);
  const shared = labeledExpand(eaePrk, 'shared_secret', kemContext, N_SECRET);
  wipe(eaePrk);
  return shared;
}

/** RFC 9180 DeriveKeyPair(ikm) for X25519: sk = LabeledExpand(LabeledExtract("", "dkp_prk", ikm), "sk", "", 32). */
function deriveKeyPair(ikm: Uint8Array): KeyPair {
  requireBytes('seed', ikm, DHKEM_X25519_SEED_BYTES);
  const dkpPrk = labeledExtract(EMPTY, 'dkp_prk', ikm);
  const secretKey = labeledExpand(dkpPrk, 'sk', EMPTY, N_SECRET);
  wipe(dkpPrk);
  return { publicKey: x25519.publicKeyFromSecret(secretKey), secretKey };
}

function encapsWithCoins(publicKey: Uint8Array, coins: Uint8Array): Encapsulation {
  requireBytes('publicKey', publicKey, 32);
  requireBytes('coins', coins, DHKEM_X25519_SEED_BYTES);
  const ephemeral = deriveKeyPair(coins);
  // sharedSecret() rejects an all-zero DH output, as RFC 9180 §7.1.4 requires.
  const dh = x25519.sharedSecret(ephemeral.secretKey, publicKey);
  const enc = ephemeral.publicKey;
  const sharedSecret = extractAndExpand(dh, concatBytes(enc, publicKey));
  wipe(dh, ephemeral.secretKey);
  return { ciphertext: enc, sharedSecret };
}

/** DHKEM(X25519, HKDF-SHA256); RFC 9180 splits HKDF into labeled extract and expand steps, built here on HMAC-SHA256. */
export const dhkemX25519: Kem = {
  keygen: () => withRandomBytes(DHKEM_X25519_SEED_BYTES, deriveKeyPair),
  keygenFromSeed: deriveKeyPair,
  encaps: (publicKey: Uint8Array) => withRandomBytes(DHKEM_X25519_SEED_BYTES, (coins) => encapsWithCoins(publicKey, coins)),
  encapsWithCoins,
  decaps(secretKey: Uint8Array, ciphertext: Uint8Array): Uint8Array {
    requireBytes('secretKey', secretKey, 32);
    requireBytes('ciphertext', ciphertext, 32);
    const dh = x25519.sharedSecret(secretKey, ciphertext);
    const publicKey = x25519.publicKeyFromSecret(secretKey);
    const sharedSecret = extractAndExpand(dh, concatBytes(ciphertext, publicKey));
    wipe(dh);
    return sharedSecret;
  },
};
