/**
 * Releasing an entry key K_j to one verifier: the TLM wraps it to the verifier's ML-KEM-1024
 * public key, so only that verifier can open it (not the server that relays the answer, not
 * another verifier that copies it).
 *
 *   (ct, ss) = ML-KEM-1024.Encaps(verifier public key)
 *   info     = LP("pqe2ee/v1/audit-key-release", logId, j, W_j, ct)
 *   wrapKey  = HKDF-SHA256(ss, salt = "", info, 32)
 *   sealed   = AES-256-GCM(wrapKey, nonce = 0^12, K_j, ad = info)
 *
 * wrapKey comes from a fresh encapsulation and seals exactly one key, so the fixed nonce is never
 * reused under one key. Binding (logId, j, W_j) into info and AD means a released key cannot be
 * presented as the key of another entry or another log.
 */
import { label, lengthPrefixed, wipe } from '../crypto/bytes.js';
import { u32, u64 } from './entry-format.js';
import { AUDIT_KEY_BYTES, auditPrimitives } from './key-schedule.js';
import { AuditFormatError } from '../errors.js';

const RELEASE_LABEL = label('pqe2ee/v1/audit-key-release');
const ZERO_NONCE = new Uint8Array(12);

/** An entry key wrapped to one verifier. */
export interface WrappedEntryKey {
  readonly index: number;
  readonly categoryMask: number;
  readonly kemCiphertext: Uint8Array;
  readonly sealedKey: Uint8Array;
}

function releaseInfo(logId: Uint8Array, index: number, categoryMask: number, kemCiphertext: Uint8Array): Uint8Array {
  return lengthPrefixed(RELEASE_LABEL, logId, u64(index), u32(categoryMask), kemCiphertext);
}

/** Wraps `entryKey` (K_index) to `verifierKemPublicKey`. The caller zeroes `entryKey`. */
export function wrapEntryKey(verifierKemPublicKey: Uint8Array, logId: Uint8Array, index: number, categoryMask: number, entryKey: Uint8Array): WrappedEntryKey {
  const { ciphertext, sharedSecret } = auditPrimitives.kem.encaps(verifierKemPublicKey);
  const info = releaseInfo(logId, index, categoryMask, ciphertext);
  const wrapKey = auditPrimitives.hkdf(sharedSecret, new Uint8Array(0), info, AUDIT_KEY_BYTES);
  try {
    return { index, categoryMask, kemCiphertext: ciphertext, sealedKey: auditPrimitives.aead.encrypt(wrapKey, ZERO_NONCE, entryKey, info) };
  } finally {
    wipe(sharedSecret, wrapKey);
  }
}

/**
 * Opens a wrapped key with the verifier's KEM secret key, for the entry (logId, index, mask) the
 * verifier asked for — not the one the answer claims. Returns K_index (zero it after use); throws
 * if the key was wrapped for another verifier, entry or log, or was altered.
 */
export function unwrapEntryKey(verifierKemSecretKey: Uint8Array, logId: Uint8Array, index: number, categoryMask: number, wrapped: WrappedEntryKey): Uint8Array {
  if (wrapped.index !== index || wrapped.categoryMask !== categoryMask) throw new AuditFormatError(`the released key is for entry ${wrapped.index}, not entry ${index}`);
  const sharedSecret = auditPrimitives.kem.decaps(verifierKemSecretKey, wrapped.kemCiphertext);
  const info = releaseInfo(logId, index, categoryMask, wrapped.kemCiphertext);
  const wrapKey = auditPrimitives.hkdf(sharedSecret, new Uint8Array(0), info, AUDIT_KEY_BYTES);
  try {
    return auditPrimitives.aead.decrypt(wrapKey, ZERO_NONCE, wrapped.sealedKey, info);
  } finally {
    wipe(sharedSecret, wrapKey);
  }
}
