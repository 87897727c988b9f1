/**
 * The encryption header of a database, stored in plaintext in the reserved namespace: how the storage
 * key is obtained (application key through HKDF, or passphrase through PBKDF2 with its iteration
 * count), the per-database salt, and a key-check record (an AEAD-sealed constant) so that a wrong key
 * fails at open. Layout (75 bytes):
 * version (1) ‖ source (1) ‖ iterations (4, big-endian; 0 for an application key) ‖ salt (16) ‖
 * nonce (12) ‖ AES-256-GCM(storage key, nonce, "pqe2ee/v1/store/key-check", aad = the first 22 bytes).
 */
import { getSuite, randomBytes } from '../crypto/index.js';
import { StorageCorruptedError, WrongStorageKeyError } from '../errors.js';
import { MAX_PBKDF2_ITERATIONS, MIN_PBKDF2_ITERATIONS, STORAGE_SALT_BYTES } from './kdf.js';

/** Where the header lives. */
export const META_NAMESPACE = '__pqe2ee_meta';
export const HEADER_KEY = 'encryption';

/** How the storage key is obtained. */
export type KeySource = { kind: 'key' } | { kind: 'passphrase'; iterations: number };

/** A parsed header (before the key check). */
export interface EncryptionHeader {
  readonly source: KeySource;
  readonly salt: Uint8Array;
}

const HEADER_VERSION = 1;
const SOURCE_KEY = 1;
const SOURCE_PASSPHRASE = 2;
const NONCE_BYTES = 12;
const KEY_CHECK_PLAINTEXT = new TextEncoder().encode('pqe2ee/v1/store/key-check');
const AUTHENTICATED_BYTES = 2 + 4 + STORAGE_SALT_BYTES;
const HEADER_BYTES = AUTHENTICATED_BYTES + NONCE_BYTES + KEY_CHECK_PLAINTEXT.length + 16;

function authenticatedPart(header: EncryptionHeader): Uint8Array {
  const out = new Uint8Array(AUTHENTICATED_BYTES);
  out[0] = HEADER_VERSION;
  out[1] = header.source.kind === 'key' ? SOURCE_KEY : SOURCE_PASSPHRASE;
  new DataView(out.buffer).setUint32(2, header.source.kind === 'passphrase' ? header.source.iterations : 0);
  out.set(header.salt, 6);
  return out;
}

/** A fresh header: random salt. */
export function newHeader(source: KeySource): EncryptionHeader {
  return { source, salt: randomBytes(STORAGE_SALT_BYTES) };
}

/** Serialises the header with a key-check record sealed under storageKey. */
export function encodeHeader(header: EncryptionHeader, storageKey: Uint8Array): Uint8Array {
  const authenticated = authenticatedPart(header);
  const nonce = randomBytes(NONCE_BYTES);
  const check = getSuite(1).aead.encrypt(storageKey, nonce, KEY_CHECK_PLAINTEXT, authenticated);
  const out = new Uint8Array(HEADER_BYTES);
  out.set(authenticated, 0);
  out.set(nonce, AUTHENTICATED_BYTES);
  out.set(check, AUTHENTICATED_BYTES + NONCE_BYTES);
  return out;
}

/** Parses a stored header; a malformed one throws StorageCorruptedError. */
export function decodeHeader(bytes: Uint8Array): EncryptionHeader {
  if (bytes.length !== HEADER_BYTES) throw new StorageCorruptedError('the encryption header has the wrong length');
  if (bytes[0] !== HEADER_VERSION) throw new StorageCorruptedError(`the encryption header has unknown version ${bytes[0]}`);
  const iterations = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(2);
  const salt = bytes.slice(6, 6 + STORAGE_SALT_BYTES);
  if (bytes[1] === SOURCE_KEY && iterations === 0) return { source: { kind: 'key' }, salt };
  if (bytes[1] === SOURCE_PASSPHRASE && iterations >= MIN_PBKDF2_ITERATIONS && iterations <= MAX_PBKDF2_ITERATIONS) {
    return { source: { kind: 'passphrase', iterations }, salt };
  }
  throw new StorageCorruptedError('the encryption header names an unknown key source or an iteration count out of range');
}

/** Checks the key-check record against storageKey; a mismatch throws WrongStorageKeyError. */
export function verifyHeaderKey(bytes: Uint8Array, header: EncryptionHeader, storageKey: Uint8Array): void {
  let plaintext: Uint8Array;
  try {
    plaintext = getSuite(1).aead.decrypt(
      storageKey,
      bytes.subarray(AUTHENTICATED_BYTES, AUTHENTICATED_BYTES + NONCE_BYTES),
      bytes.subarray(AUTHENTICATED_BYTES + NONCE_BYTES),
      authenticatedPart(header),
    );
  } catch {
    throw new WrongStorageKeyError();
  }
  const matches = plaintext.length === KEY_CHECK_PLAINTEXT.length && plaintext.every((byte, i) => byte === KEY_CHECK_PLAINTEXT[i]);
  if (!matches) throw new WrongStorageKeyError();
}
