/**
 * X-Wing: the hybrid KEM of draft-connolly-cfrg-xwing-kem (ML-KEM-768 + X25519, SHA3-256 combiner).
 *   secret key  = 32-byte seed, expanded with SHAKE256 to (ML-KEM d, z, X25519 secret)
 *   public key  = ML-KEM-768 public key (1184) ‖ X25519 public key (32)
 *   ciphertext  = ML-KEM-768 ciphertext (1088) ‖ X25519 ephemeral public key (32)
 *   shared key  = SHA3-256(ss_M ‖ ss_X ‖ ct_X ‖ pk_X ‖ "\.//^\")
 * Secure while either ML-KEM-768 or X25519 holds.
 */
import { mlkem768, sha3_256, shake256, x25519 } from '../../bindings/index.js';
import { requireBytes, withRandomBytes } from '../../bindings/memory.js';
import { concatBytes, wipe } from './bytes.js';
import type { Encapsulation, Kem, KeyPair } from './suite.js';

/** The combiner's domain separator, the six ASCII bytes \.//^\ */
const XWING_LABEL = new Uint8Array([0x5c, 0x2e, 0x2f, 0x2f, 0x5e, 0x5c]);
const X25519_BYTES = 32;
export const XWING_SEED_BYTES = 32;
export const XWING_COINS_BYTES = 64;
export const XWING_PUBLIC_KEY_BYTES = mlkem768.publicKeyBytes + X25519_BYTES;
export const XWING_CIPHERTEXT_BYTES = mlkem768.ciphertextBytes + X25519_BYTES;

interface ExpandedKey {
  mlkemSecretKey: Uint8Array;
  mlkemPublicKey: Uint8Array;
  x25519SecretKey: Uint8Array;
  x25519PublicKey: Uint8Array;
}

function expandSecretKey(seed: Uint8Array): ExpandedKey {
  const expanded = shake256(seed, 96);
  const mlkem = mlkem768.keygenFromSeed(expanded.subarray(0, 64));
  const x25519SecretKey = expanded.slice(64, 96);
  wipe(expanded);
  return {
    mlkemSecretKey: mlkem.secretKey,
    mlkemPublicKey: mlkem.publicKey,
    x25519SecretKey,
    x25519PublicKey: x25519.publicKeyFromSecret(x25519SecretKey),
  };
}

function combine(ssM: Uint8Array, ssX: Uint8Array, ctX: Uint8Array, pkX: Uint8Array): Uint8Array {
  const input = concatBytes(ssM, ssX, ctX, pkX, XWING_LABEL);
  const shared = sha3_256(input);
  wipe(input);
  return shared;
}

function keygenFromSeed(seed: Uint8Array): KeyPair {
  requireBytes('seed', seed, XWING_SEED_BYTES);
  const key = expandSecretKey(seed);
  const publicKey = concatBytes(key.mlkemPublicKey, key.x25519PublicKey);
  wipe(key.mlkemSecretKey, key.x25519SecretKey);
  return { publicKey, secretKey: seed.slice() };
}

function encapsWithCoins(publicKey: Uint8Array, coins: Uint8Array): Encapsulation {
  requireBytes('publicKey', publicKey, XWING_PUBLIC_KEY_BYTES);
  requireBytes('coins', coins, XWING_COINS_BYTES);
  const pkM = publicKey.subarray(0, mlkem768.publicKeyBytes);
  const pkX = publicKey.subarray(mlkem768.publicKeyBytes);
  const ephemeralSecret = coins.subarray(32, 64);
  const ctX = x25519.publicKeyFromSecret(ephemeralSecret);
  const ssX = x25519.scalarMult(ephemeralSecret, pkX);
  const { ciphertext: ctM, sharedSecret: ssM } = mlkem768.encapsWithCoins(pkM, coins.subarray(0, 32));
  const sharedSecret = combine(ssM, ssX, ctX, pkX);
  wipe(ssM, ssX);
  return { ciphertext: concatBytes(ctM, ctX), sharedSecret };
}

export const xwing: Kem = {
  keygen: () => withRandomBytes(XWING_SEED_BYTES, keygenFromSeed),
  keygenFromSeed,
  encaps: (publicKey: Uint8Array) => withRandomBytes(XWING_COINS_BYTES, (coins) => encapsWithCoins(publicKey, coins)),
  encapsWithCoins,
  decaps(secretKey: Uint8Array, ciphertext: Uint8Array): Uint8Array {
    requireBytes('secretKey', secretKey, XWING_SEED_BYTES);
    requireBytes('ciphertext', ciphertext, XWING_CIPHERTEXT_BYTES);
    const key = expandSecretKey(secretKey);
    const ctM = ciphertext.subarray(0, mlkem768.ciphertextBytes);
    const ctX = ciphertext.subarray(mlkem768.ciphertextBytes);
    const ssM = mlkem768.decaps(key.mlkemSecretKey, ctM);
    const ssX = x25519.scalarMult(key.x25519SecretKey, ctX);
    const sharedSecret = combine(ssM, ssX, ctX, key.x25519PublicKey);
    wipe(ssM, ssX, key.mlkemSecretKey, key.x25519SecretKey);
    return sharedSecret;
  },
};
