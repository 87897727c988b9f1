/**
 * The cipher-suite interface (DESIGN.md §3; the white paper's crypto-param and primitive list).
 * A suite bundles one KEM, one signature scheme, AES-256-GCM and SHA-256-based KDFs; protocol code
 * talks only to this interface, so every protocol feature works with every suite.
 */
import type { Encapsulation, KeyPair } from '../../bindings/index.js';

export type { Encapsulation, KeyPair };

/** Numeric suite ids, as carried on the wire. */
export type SuiteId = 1 | 2 | 3;

/** Sizes and names of a suite (the white paper's `get_crypto_param`). */
export interface SuiteParams {
  readonly id: SuiteId;
  readonly name: string;
  readonly kemName: string;
  readonly sigName: string;
  readonly kemPublicKeyBytes: number;
  readonly kemSecretKeyBytes: number;
  readonly kemCiphertextBytes: number;
  readonly kemSeedBytes: number;
  readonly kemCoinsBytes: number;
  readonly sharedSecretBytes: number;
  readonly sigPublicKeyBytes: number;
  readonly sigSecretKeyBytes: number;
  readonly signatureBytes: number;
  readonly sigSeedBytes: number;
  readonly sigRandomnessBytes: number;
  readonly aeadKeyBytes: 32;
  readonly aeadNonceBytes: 12;
  readonly aeadTagBytes: 16;
  readonly hashBytes: 32;
}

/** A key-encapsulation mechanism. */
export interface Kem {
  keygen(): KeyPair;
  /** Deterministic key generation (known-answer tests; never used by the protocol). */
  keygenFromSeed(seed: Uint8Array): KeyPair;
  encaps(publicKey: Uint8Array): Encapsulation;
  /** Deterministic encapsulation (known-answer tests; never used by the protocol). */
  encapsWithCoins(publicKey: Uint8Array, coins: Uint8Array): Encapsulation;
  decaps(secretKey: Uint8Array, ciphertext: Uint8Array): Uint8Array;
}

/** A signature scheme. */
export interface Signer {
  keygen(): KeyPair;
  keygenFromSeed(seed: Uint8Array): KeyPair;
  sign(secretKey: Uint8Array, message: Uint8Array): Uint8Array;
  /** Signing with given randomness (known-answer tests; never used by the protocol). */
  signWithRandomness(secretKey: Uint8Array, message: Uint8Array, randomness: Uint8Array): Uint8Array;
  /** True only for a valid signature; never throws for a bad signature. */
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
}

/** An AEAD with 32-byte keys, 12-byte nonces and a 16-byte tag appended to the ciphertext. */
export interface Aead {
  encrypt(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array): Uint8Array;
  /** Throws DecryptionFailedError when authentication fails. */
  decrypt(key: Uint8Array, nonce: Uint8Array, ciphertextAndTag: Uint8Array, aad?: Uint8Array): Uint8Array;
}

/** One cipher suite. */
export interface CipherSuite {
  readonly params: SuiteParams;
  readonly kem: Kem;
  readonly sig: Signer;
  readonly aead: Aead;
  /** HKDF-SHA256 (RFC 5869). */
  hkdf(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array;
  /** HMAC-SHA256. */
  hmac(key: Uint8Array, message: Uint8Array): Uint8Array;
  /** SHA-256. */
  hash(message: Uint8Array): Uint8Array;
}
