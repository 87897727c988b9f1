/** X25519 (RFC 7748) and Ed25519 (RFC 8032) from the wasm core. */
import { frameSize, keyPairFromSeed, randomBytes, requireBytes, withFrame, withRandomBytes } from './memory.js';
import { check, STATUS_BAD_SIGNATURE, STATUS_INVALID_KEY, STATUS_OK } from './status.js';
import type { KeyPair } from './types.js';

const X25519_BYTES = 32;

/** X25519 Diffie-Hellman. Secret keys are 32 random bytes (clamped inside the core). */
export interface X25519 {
  readonly publicKeyBytes: 32;
  readonly secretKeyBytes: 32;
  keygen(): KeyPair;
  publicKeyFromSecret(secretKey: Uint8Array): Uint8Array;
  /** Shared secret; throws InvalidKeyError when it is all-zero (the peer sent a low-order point). */
  sharedSecret(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array;
  /** Raw RFC 7748 X25519 output with no all-zero check (X-Wing's combiner relies on ML-KEM instead). */
  scalarMult(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array;
}

function publicKeyFromSecret(secretKey: Uint8Array): Uint8Array {
  requireBytes('secretKey', secretKey, X25519_BYTES);
  return withFrame(frameSize(X25519_BYTES, X25519_BYTES), (frame) => {
    const pk = frame.reserve(X25519_BYTES);
    const sk = frame.input(secretKey);
    check(frame.core.pqe2ee_x25519_base(pk, sk), 'X25519');
    return frame.read(pk, X25519_BYTES);
  });
}

function multiply(secretKey: Uint8Array, publicKey: Uint8Array, allowZero: boolean): Uint8Array {
  requireBytes('secretKey', secretKey, X25519_BYTES);
  requireBytes('publicKey', publicKey, X25519_BYTES);
  return withFrame(frameSize(X25519_BYTES, X25519_BYTES, X25519_BYTES), (frame) => {
    const out = frame.reserve(X25519_BYTES);
    const sk = frame.input(secretKey);
    const pk = frame.input(publicKey);
    const status = frame.core.pqe2ee_x25519(out, sk, pk);
    if (!(allowZero && status === STATUS_INVALID_KEY)) check(status, 'X25519');
    return frame.read(out, X25519_BYTES);
  });
}

export const x25519: X25519 = {
  publicKeyBytes: 32,
  secretKeyBytes: 32,
  keygen(): KeyPair {
    const secretKey = randomBytes(X25519_BYTES);
    return { publicKey: publicKeyFromSecret(secretKey), secretKey };
  },
  publicKeyFromSecret,
  sharedSecret: (secretKey, publicKey) => multiply(secretKey, publicKey, false),
  scalarMult: (secretKey, publicKey) => multiply(secretKey, publicKey, true),
};

const ED25519_SEED_BYTES = 32;
const ED25519_PUBLIC_BYTES = 32;
const ED25519_SECRET_BYTES = 64;
const ED25519_SIGNATURE_BYTES = 64;

/** Ed25519 (pure). Secret keys are 64 bytes: the RFC 8032 seed followed by the public key. */
export interface Ed25519 {
  readonly publicKeyBytes: 32;
  readonly secretKeyBytes: 64;
  readonly seedBytes: 32;
  readonly signatureBytes: 64;
  keygen(): KeyPair;
  keygenFromSeed(seed: Uint8Array): KeyPair;
  publicKeyFromSecret(secretKey: Uint8Array): Uint8Array;
  sign(secretKey: Uint8Array, message: Uint8Array): Uint8Array;
  /** Strict verification: rejects non-canonical S, non-canonical or small-order keys and R. */
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
}

function ed25519KeygenFromSeed(seed: Uint8Array): KeyPair {
  const sizes = { seedBytes: ED25519_SEED_BYTES, publicKeyBytes: ED25519_PUBLIC_BYTES, secretKeyBytes: ED25519_SECRET_BYTES };
  return keyPairFromSeed('Ed25519', seed, sizes, (core, pk, sk, seedPointer) => core.pqe2ee_ed25519_keypair_seed(pk, sk, seedPointer));
}

export const ed25519: Ed25519 = {
  publicKeyBytes: 32,
  secretKeyBytes: 64,
  seedBytes: 32,
  signatureBytes: 64,
  keygen: () => withRandomBytes(ED25519_SEED_BYTES, ed25519KeygenFromSeed),
  keygenFromSeed: ed25519KeygenFromSeed,
  publicKeyFromSecret(secretKey: Uint8Array): Uint8Array {
    requireBytes('secretKey', secretKey, ED25519_SECRET_BYTES);
    return secretKey.slice(ED25519_SEED_BYTES);
  },
  sign(secretKey: Uint8Array, message: Uint8Array): Uint8Array {
    requireBytes('secretKey', secretKey, ED25519_SECRET_BYTES);
    requireBytes('message', message);
    return withFrame(frameSize(ED25519_SIGNATURE_BYTES, message.length, ED25519_SECRET_BYTES), (frame) => {
      const sig = frame.reserve(ED25519_SIGNATURE_BYTES);
      const m = frame.input(message);
      const sk = frame.input(secretKey);
      check(frame.core.pqe2ee_ed25519_sign(sig, m, message.length, sk), 'Ed25519 sign');
      return frame.read(sig, ED25519_SIGNATURE_BYTES);
    });
  },
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
    requireBytes('publicKey', publicKey, ED25519_PUBLIC_BYTES);
    requireBytes('message', message);
    requireBytes('signature', signature);
    if (signature.length !== ED25519_SIGNATURE_BYTES) return false;
    return withFrame(frameSize(ED25519_SIGNATURE_BYTES, message.length, ED25519_PUBLIC_BYTES), (frame) => {
      const sig = frame.input(signature);
      const m = frame.input(message);
      const pk = frame.input(publicKey);
      const status = frame.core.pqe2ee_ed25519_verify(sig, m, message.length, pk);
      if (status === STATUS_OK) return true;
      if (status === STATUS_BAD_SIGNATURE) return false;
      check(status, 'Ed25519 verify');
      return false;
    });
  },
};
