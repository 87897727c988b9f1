/**
 * Key derivation for encryption at rest: PBKDF2-HMAC-SHA256 through WebCrypto (Node >= 20 and
 * browsers), and HKDF-SHA256 (wasm core) for keys supplied by the application.
 */
import { getSuite } from '../crypto/index.js';
import { InvalidStorageInputError, StorageUnavailableError } from '../errors.js';

/** Default PBKDF2-HMAC-SHA256 iteration count (OWASP Password Storage Cheat Sheet, 2023). */
export const DEFAULT_PBKDF2_ITERATIONS = 600_000;
/** Smallest accepted iteration count (anything lower is a mistake, not a trade-off). */
export const MIN_PBKDF2_ITERATIONS = 1_000;
/** Largest accepted iteration count (a bound on the work a tampered database can demand at open). */
export const MAX_PBKDF2_ITERATIONS = 100_000_000;
/** Salt length of a database, in bytes. */
export const STORAGE_SALT_BYTES = 16;
/** Storage key length (AES-256), in bytes. */
export const STORAGE_KEY_BYTES = 32;

const APP_KEY_INFO = new TextEncoder().encode('pqe2ee/v1/store/at-rest-key');

/** Checks an iteration count against [MIN_PBKDF2_ITERATIONS, MAX_PBKDF2_ITERATIONS]. */
export function requireIterations(iterations: unknown): asserts iterations is number {
  if (typeof iterations !== 'number' || !Number.isSafeInteger(iterations) || iterations < MIN_PBKDF2_ITERATIONS || iterations > MAX_PBKDF2_ITERATIONS) {
    throw new InvalidStorageInputError(`iterations must be an integer from ${MIN_PBKDF2_ITERATIONS} to ${MAX_PBKDF2_ITERATIONS}`);
  }
}

/**
 * PBKDF2-HMAC-SHA256 of the passphrase (Unicode NFC-normalised, then UTF-8) with the salt: 32 bytes.
 * The caller owns (and must zero) the result.
 */
export async function derivePassphraseKey(passphrase: string, salt: Uint8Array, iterations: number): Promise<Uint8Array> {
  if (typeof passphrase !== 'string' || passphrase.length === 0) {
    throw new InvalidStorageInputError('passphrase must be a non-empty string');
  }
  if (!(salt instanceof Uint8Array) || salt.length !== STORAGE_SALT_BYTES) {
    throw new InvalidStorageInputError(`salt must be a Uint8Array of ${STORAGE_SALT_BYTES} bytes`);
  }
  requireIterations(iterations);
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) throw new StorageUnavailableError('WebCrypto (crypto.subtle) is needed to derive a key from a passphrase');
  const passphraseBytes = new TextEncoder().encode(passphrase.normalize('NFC'));
  const saltCopy = new Uint8Array(salt);
  try {
    const baseKey = await subtle.importKey('raw', passphraseBytes, 'PBKDF2', false, ['deriveBits']);
    const bits = await subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt: saltCopy, iterations }, baseKey, STORAGE_KEY_BYTES * 8);
    return new Uint8Array(bits);
  } finally {
    passphraseBytes.fill(0);
  }
}

/** The storage key for an application-supplied 32-byte key: HKDF-SHA256(key, salt, "pqe2ee/v1/store/at-rest-key"). */
export function deriveAppKey(appKey: Uint8Array, salt: Uint8Array): Uint8Array {
  if (!(appKey instanceof Uint8Array) || appKey.length !== STORAGE_KEY_BYTES) {
    throw new InvalidStorageInputError(`key must be a Uint8Array of ${STORAGE_KEY_BYTES} bytes`);
  }
  return getSuite(1).hkdf(appKey, salt, APP_KEY_INFO, STORAGE_KEY_BYTES);
}
