/** An in-memory DatabaseHandler (browser-safe): for tests, ephemeral clients, and as the inner store of encryptDatabase. */
import { createBufferedHandler, type BufferedWrite, type SyncBackend } from './buffered.js';
import type { DatabaseHandler } from './database.js';

function createMemoryBackend(): SyncBackend {
  const namespaces = new Map<string, Map<string, Uint8Array>>();
  return {
    read(namespace, key) {
      return namespaces.get(namespace)?.get(key)?.slice();
    },
    readAll(namespace) {
      return [...(namespaces.get(namespace) ?? [])].map(([key, value]) => ({ key, value: value.slice() }));
    },
    commit(writes: readonly BufferedWrite[]) {
      for (const { namespace, key, value } of writes) {
        let records = namespaces.get(namespace);
        records?.get(key)?.fill(0);
        if (value === undefined) {
          records?.delete(key);
          if (records?.size === 0) namespaces.delete(namespace);
          continue;
        }
        if (!records) {
          records = new Map();
          namespaces.set(namespace, records);
        }
        records.set(key, value.slice());
      }
    },
    close() {
      for (const records of namespaces.values()) for (const value of records.values()) value.fill(0);
      namespaces.clear();
    },
  };
}

/** Creates an empty in-memory database; values are copied in and out, so callers may zero their buffers. Contents are lost (and zeroed) on close. */
export function createMemoryDatabase(): DatabaseHandler {
  return createBufferedHandler(createMemoryBackend());
}
