/**
 * A DatabaseHandler over a backend that cannot keep a transaction open across the caller's async fn
 * (memory, better-sqlite3, IndexedDB): each transaction buffers its writes in an overlay that its own
 * reads consult first, and hands them to the backend in one atomic commit when fn resolves. A
 * per-handler serial queue runs transactions one at a time. Backend operations may be synchronous or
 * return promises.
 */
import type { DatabaseHandler, KeyValueTransaction } from './database.js';
import { StorageClosedError, TransactionFinishedError } from '../errors.js';
import { createSerialQueue } from './serial-queue.js';
import { compareKeys, requireName, requireValue } from './validate.js';

/** One buffered write: a value to store, or undefined to delete. */
export interface BufferedWrite {
  readonly namespace: string;
  readonly key: string;
  readonly value: Uint8Array | undefined;
}

/** The storage a buffered handler reads from and commits to. Reads return buffers the caller owns. */
export interface BufferedBackend {
  read(namespace: string, key: string): Uint8Array | undefined | Promise<Uint8Array | undefined>;
  /** Every record of the namespace, in any order. */
  readAll(namespace: string): Array<{ key: string; value: Uint8Array }> | Promise<Array<{ key: string; value: Uint8Array }>>;
  /** Applies all writes atomically (all or none), in order; never called with no writes. */
  commit(writes: readonly BufferedWrite[]): void | Promise<void>;
  /** Called when each transaction starts: throws (e.g. StorageClosedError) when the backend can no longer be used. */
  assertOpen?(): void;
  close(): void | Promise<void>;
}

/** A backend whose operations all complete synchronously (memory, better-sqlite3). */
export interface SyncBackend extends BufferedBackend {
  read(namespace: string, key: string): Uint8Array | undefined;
  readAll(namespace: string): Array<{ key: string; value: Uint8Array }>;
  commit(writes: readonly BufferedWrite[]): void;
  close(): void;
}

/** The writes of one transaction, by namespace then key; undefined marks a deletion. */
type Overlay = Map<string, Map<string, Uint8Array | undefined>>;

function overlayOf(overlay: Overlay, namespace: string): Map<string, Uint8Array | undefined> {
  let records = overlay.get(namespace);
  if (!records) {
    records = new Map();
    overlay.set(namespace, records);
  }
  return records;
}

function zeroOverlay(overlay: Overlay): void {
  for (const records of overlay.values()) for (const value of records.values()) value?.fill(0);
  overlay.clear();
}

function createTransaction(backend: BufferedBackend, overlay: Overlay, isActive: () => boolean): KeyValueTransaction {
  const requireActive = (): void => {
    if (!isActive()) throw new TransactionFinishedError();
  };
  return {
    async get(namespace, key) {
      requireActive();
      requireName('namespace', namespace);
      requireName('key', key);
      const records = overlay.get(namespace);
      if (records?.has(key)) {
        const value = records.get(key);
        return value === undefined ? undefined : value.slice();
      }
      return backend.read(namespace, key);
    },
    async put(namespace, key, value) {
      requireActive();
      requireName('namespace', namespace);
      requireName('key', key);
      requireValue(value);
      const records = overlayOf(overlay, namespace);
      records.get(key)?.fill(0);
      records.set(key, new Uint8Array(value));
    },
    async delete(namespace, key) {
      requireActive();
      requireName('namespace', namespace);
      requireName('key', key);
      const records = overlayOf(overlay, namespace);
      records.get(key)?.fill(0);
      records.set(key, undefined);
    },
    async list(namespace) {
      requireActive();
      requireName('namespace', namespace);
      const merged = new Map<string, Uint8Array>();
      for (const record of await backend.readAll(namespace)) merged.set(record.key, record.value);
      // fn may have written while an asynchronous read was pending: the overlay is consulted after it.
      for (const [key, value] of overlay.get(namespace) ?? []) {
        merged.get(key)?.fill(0);
        if (value === undefined) merged.delete(key);
        else merged.set(key, value.slice());
      }
      return [...merged].sort(([a], [b]) => compareKeys(a, b)).map(([key, value]) => ({ key, value }));
    },
  };
}

/** Wraps a backend as an async, transactional, serialised DatabaseHandler. */
export function createBufferedHandler(backend: BufferedBackend): DatabaseHandler {
  const queue = createSerialQueue();
  let closing = false;
  let closed: Promise<void> | undefined;

  async function runTransaction<T>(fn: (tx: KeyValueTransaction) => Promise<T>): Promise<T> {
    backend.assertOpen?.();
    const overlay: Overlay = new Map();
    let active = true;
    try {
      const result = await fn(createTransaction(backend, overlay, () => active));
      active = false;
      const writes: BufferedWrite[] = [];
      for (const [namespace, records] of overlay) {
        for (const [key, value] of records) writes.push({ namespace, key, value });
      }
      if (writes.length > 0) await backend.commit(writes);
      return result;
    } finally {
      active = false;
      zeroOverlay(overlay);
    }
  }

  return {
    transaction<T>(fn: (tx: KeyValueTransaction) => Promise<T>): Promise<T> {
      if (closing) return Promise.reject(new StorageClosedError());
      return queue.run(() => runTransaction(fn));
    },
    close(): Promise<void> {
      closing = true;
      closed ??= queue.drain().then(() => backend.close());
      return closed;
    },
  };
}
