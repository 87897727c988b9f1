/**
 * Encryption at rest over any DatabaseHandler: every value is sealed with AES-256-GCM under a storage
 * key (see sealed-record.ts); record names stay in plaintext. The storage key comes from a 32-byte
 * application key (HKDF) or a passphrase (PBKDF2-HMAC-SHA256), with a per-database salt kept in the
 * reserved namespace. See docs/store.md for what is and is not protected.
 */
import { RESERVED_NAMESPACE_PREFIX, type DatabaseHandler, type KeyValueTransaction } from './database.js';
import { decodeHeader, encodeHeader, HEADER_KEY, META_NAMESPACE, newHeader, verifyHeaderKey, type EncryptionHeader, type KeySource } from './encryption-header.js';
import { InvalidStorageInputError, ReservedNamespaceError, StorageClosedError, TransactionFinishedError, WrongStorageKeyError } from '../errors.js';
import { DEFAULT_PBKDF2_ITERATIONS, deriveAppKey, derivePassphraseKey, requireIterations, STORAGE_KEY_BYTES } from './kdf.js';
import { openRecord, sealRecord } from './sealed-record.js';
import { createSerialQueue } from './serial-queue.js';
import { requireName, requireValue } from './validate.js';

/**
 * How encryptDatabase obtains the storage key: a 32-byte application key, or a passphrase.
 * `iterations` (default DEFAULT_PBKDF2_ITERATIONS) applies when the database is created; an existing
 * database always uses the count stored in it.
 */
export type EncryptDatabaseOptions = { key: Uint8Array } | { passphrase: string; iterations?: number };

function requireUserNamespace(namespace: string): void {
  requireName('namespace', namespace);
  if (namespace.startsWith(RESERVED_NAMESPACE_PREFIX)) throw new ReservedNamespaceError(namespace);
}

function parseOptions(options: unknown): { source: KeySource; key?: Uint8Array; passphrase?: string } {
  if (typeof options !== 'object' || options === null) throw new InvalidStorageInputError('options must be { key } or { passphrase }');
  const { key, passphrase, iterations } = options as { key?: unknown; passphrase?: unknown; iterations?: unknown };
  if ((key === undefined) === (passphrase === undefined)) {
    throw new InvalidStorageInputError('options must have exactly one of key and passphrase');
  }
  if (key !== undefined) {
    if (!(key instanceof Uint8Array) || key.length !== STORAGE_KEY_BYTES) {
      throw new InvalidStorageInputError(`key must be a Uint8Array of ${STORAGE_KEY_BYTES} bytes`);
    }
    return { source: { kind: 'key' }, key };
  }
  if (typeof passphrase !== 'string' || passphrase.length === 0) throw new InvalidStorageInputError('passphrase must be a non-empty string');
  const count = iterations ?? DEFAULT_PBKDF2_ITERATIONS;
  requireIterations(count);
  return { source: { kind: 'passphrase', iterations: count }, passphrase };
}

async function deriveStorageKey(header: EncryptionHeader, key: Uint8Array | undefined, passphrase: string | undefined): Promise<Uint8Array> {
  if (header.source.kind === 'key') return deriveAppKey(key!, header.salt);
  return derivePassphraseKey(passphrase!, header.salt, header.source.iterations);
}

/** Reads (or, on an empty database, creates) the header and returns the checked storage key. */
async function unlock(inner: DatabaseHandler, options: unknown): Promise<Uint8Array> {
  const { source, key, passphrase } = parseOptions(options);
  return inner.transaction(async (tx) => {
    const stored = await tx.get(META_NAMESPACE, HEADER_KEY);
    const header = stored ? decodeHeader(stored) : newHeader(source);
    if (stored && header.source.kind !== source.kind) {
      throw new WrongStorageKeyError(`this database is protected by ${header.source.kind === 'key' ? 'an application key' : 'a passphrase'}: open it with one`);
    }
    const storageKey = await deriveStorageKey(header, key, passphrase);
    try {
      if (stored) verifyHeaderKey(stored, header, storageKey);
      else await tx.put(META_NAMESPACE, HEADER_KEY, encodeHeader(header, storageKey));
      return storageKey;
    } catch (error) {
      storageKey.fill(0);
      throw error;
    }
  });
}

function encryptedTransaction(inner: KeyValueTransaction, storageKey: Uint8Array, isActive: () => boolean): KeyValueTransaction {
  const requireActive = (): void => {
    if (!isActive()) throw new TransactionFinishedError();
  };
  return {
    async get(namespace, key) {
      requireActive();
      requireUserNamespace(namespace);
      requireName('key', key);
      const sealed = await inner.get(namespace, key);
      requireActive();
      return sealed === undefined ? undefined : openRecord(storageKey, namespace, key, sealed);
    },
    async put(namespace, key, value) {
      requireActive();
      requireUserNamespace(namespace);
      requireName('key', key);
      requireValue(value);
      await inner.put(namespace, key, sealRecord(storageKey, namespace, key, value));
    },
    async delete(namespace, key) {
      requireActive();
      requireUserNamespace(namespace);
      requireName('key', key);
      await inner.delete(namespace, key);
    },
    async list(namespace) {
      requireActive();
      requireUserNamespace(namespace);
      const records = await inner.list(namespace);
      requireActive();
      return records.map(({ key, value }) => ({ key, value: openRecord(storageKey, namespace, key, value) }));
    },
  };
}

/**
 * Wraps `inner` with encryption at rest and checks the key (or passphrase) against the database:
 * a wrong one throws WrongStorageKeyError here, not at the first read. On an empty database it
 * creates the header (fresh salt, key-check record). The returned handler owns `inner`: its close()
 * zeroes the storage key and closes `inner`. Namespaces starting with RESERVED_NAMESPACE_PREFIX are
 * refused (ReservedNamespaceError); a tampered, corrupted or swapped value throws StorageCorruptedError.
 * If opening fails, `inner` is left open (the caller may retry, e.g. with another passphrase).
 */
export async function encryptDatabase(inner: DatabaseHandler, options: { key: Uint8Array } | { passphrase: string; iterations?: number }): Promise<DatabaseHandler> {
  const storageKey = await unlock(inner, options);
  const queue = createSerialQueue();
  let closing = false;
  let closed: Promise<void> | undefined;
  return {
    transaction<T>(fn: (tx: KeyValueTransaction) => Promise<T>): Promise<T> {
      if (closing) return Promise.reject(new StorageClosedError());
      return queue.run(() =>
        inner.transaction(async (innerTx) => {
          let active = true;
          try {
            return await fn(encryptedTransaction(innerTx, storageKey, () => active));
          } finally {
            active = false;
          }
        }),
      );
    },
    close(): Promise<void> {
      closing = true;
      closed ??= queue.drain().then(() => {
        storageKey.fill(0);
        return inner.close();
      });
      return closed;
    },
  };
}
