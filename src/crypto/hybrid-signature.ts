/**
 * The hybrid suite's signature: ML-DSA-65 and Ed25519 over the same message; valid only if both
 * verify, so it stays unforgeable while either scheme holds.
 *   public key = ML-DSA-65 pk (1952) ‖ Ed25519 pk (32)
 *   secret key = ML-DSA-65 sk (4032) ‖ Ed25519 sk (64: seed ‖ pk)
 *   signature  = ML-DSA-65 sig over msg with context L (3309) ‖ Ed25519 sig over L ‖ msg (64)
 * with L = "pqe2ee/v1/hybrid-sig", so neither half can be replayed as a plain signature of the
 * same message under the same component key elsewhere.
 */
import { ed25519, mldsa65 } from '../../bindings/index.js';
import { requireBytes, withRandomBytes } from '../../bindings/memory.js';
import { concatBytes, label, wipe } from './bytes.js';
import type { KeyPair, Signer } from './suite.js';

export const HYBRID_SIGNATURE_CONTEXT = label('pqe2ee/v1/hybrid-sig');
export const HYBRID_SIG_PUBLIC_KEY_BYTES = mldsa65.publicKeyBytes + ed25519.publicKeyBytes;
export const HYBRID_SIG_SECRET_KEY_BYTES = mldsa65.secretKeyBytes + ed25519.secretKeyBytes;
export const HYBRID_SIGNATURE_BYTES = mldsa65.signatureBytes + ed25519.signatureBytes;
/** ML-DSA-65 seed xi (32) ‖ Ed25519 seed (32). */
export const HYBRID_SIG_SEED_BYTES = 64;

function keygenFromSeed(seed: Uint8Array): KeyPair {
  requireBytes('seed', seed, HYBRID_SIG_SEED_BYTES);
  const pq = mldsa65.keygenFromSeed(seed.subarray(0, 32));
  const classic = ed25519.keygenFromSeed(seed.subarray(32, 64));
  const secretKey = concatBytes(pq.secretKey, classic.secretKey);
  wipe(pq.secretKey, classic.secretKey);
  return { publicKey: concatBytes(pq.publicKey, classic.publicKey), secretKey };
}

function signWithRandomness(secretKey: Uint8Array, message: Uint8Array, randomness: Uint8Array): Uint8Array {
  requireBytes('secretKey', secretKey, HYBRID_SIG_SECRET_KEY_BYTES);
  requireBytes('message', message);
  requireBytes('randomness', randomness, mldsa65.randomnessBytes);
  const pqSignature = mldsa65.signWithRandomness(secretKey.subarray(0, mldsa65.secretKeyBytes), message, HYBRID_SIGNATURE_CONTEXT, randomness);
  const classicSignature = ed25519.sign(secretKey.subarray(mldsa65.secretKeyBytes), concatBytes(HYBRID_SIGNATURE_CONTEXT, message));
  return concatBytes(pqSignature, classicSignature);
}

export const hybridSignature: Signer = {
  keygen: () => withRandomBytes(HYBRID_SIG_SEED_BYTES, keygenFromSeed),
  keygenFromSeed,
  sign: (secretKey: Uint8Array, message: Uint8Array) => withRandomBytes(mldsa65.randomnessBytes, (randomness) => signWithRandomness(secretKey, message, randomness)),
  signWithRandomness,
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
    requireBytes('publicKey', publicKey, HYBRID_SIG_PUBLIC_KEY_BYTES);
    requireBytes('message', message);
    requireBytes('signature', signature);
    if (signature.length !== HYBRID_SIGNATURE_BYTES) return false;
    // Both halves are always checked (no early exit), so timing does not reveal which one failed.
    const pqValid = mldsa65.verify(publicKey.subarray(0, mldsa65.publicKeyBytes), message, signature.subarray(0, mldsa65.signatureBytes), HYBRID_SIGNATURE_CONTEXT);
    const classicValid = ed25519.verify(publicKey.subarray(mldsa65.publicKeyBytes), concatBytes(HYBRID_SIGNATURE_CONTEXT, message), signature.subarray(mldsa65.signatureBytes));
    return pqValid && classicValid;
  },
};
