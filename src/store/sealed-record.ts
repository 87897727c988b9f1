/**
 * The at-rest format of one encrypted value: version (1 byte) ‖ nonce (12) ‖ AES-256-GCM ciphertext
 * and tag. The associated data binds the version, namespace and key (each length-prefixed), so a
 * sealed value moved to another record no longer opens.
 */
import { lengthPrefixed } from '../crypto/bytes.js';
import { getSuite, randomBytes } from '../crypto/index.js';
import { StorageCorruptedError } from '../errors.js';

/** Format version of sealed values. */
export const SEALED_RECORD_VERSION = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = 1 + NONCE_BYTES;
const DOMAIN = new TextEncoder().encode('pqe2ee/v1/store/record');
const encoder = new TextEncoder();

/** The associated data of a record: domain, version, namespace and key (UTF-8), each prefixed by its 32-bit big-endian length. */
export function recordAssociatedData(namespace: string, key: string): Uint8Array {
  return lengthPrefixed(DOMAIN, Uint8Array.of(SEALED_RECORD_VERSION), encoder.encode(namespace), encoder.encode(key));
}

/** Seals a value for the record (namespace, key) under a fresh random nonce. */
export function sealRecord(storageKey: Uint8Array, namespace: string, key: string, plaintext: Uint8Array): Uint8Array {
  const nonce = randomBytes(NONCE_BYTES);
  const ciphertext = getSuite(1).aead.encrypt(storageKey, nonce, plaintext, recordAssociatedData(namespace, key));
  const sealed = new Uint8Array(HEADER_BYTES + ciphertext.length);
  sealed[0] = SEALED_RECORD_VERSION;
  sealed.set(nonce, 1);
  sealed.set(ciphertext, HEADER_BYTES);
  return sealed;
}

/** Opens a sealed value of the record (namespace, key); anything but an authentic value throws StorageCorruptedError. */
export function openRecord(storageKey: Uint8Array, namespace: string, key: string, sealed: Uint8Array): Uint8Array {
  const where = `record ${JSON.stringify(key)} of namespace ${JSON.stringify(namespace)}`;
  if (sealed.length < HEADER_BYTES + TAG_BYTES) throw new StorageCorruptedError(`${where} is too short to be an encrypted value`);
  if (sealed[0] !== SEALED_RECORD_VERSION) throw new StorageCorruptedError(`${where} has unknown format version ${sealed[0]}`);
  try {
    return getSuite(1).aead.decrypt(storageKey, sealed.subarray(1, HEADER_BYTES), sealed.subarray(HEADER_BYTES), recordAssociatedData(namespace, key));
  } catch {
    throw new StorageCorruptedError(`${where} fails authentication (tampered, corrupted, or moved from another record)`);
  }
}
