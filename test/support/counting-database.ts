// A database handler that counts what the runtime reads: work measured in rows, not in seconds.
import type { DatabaseHandler, KeyValueTransaction } from '../../src/store/database.js';

/**
 * Counts the rows every get/list of the wrapped handler returns, by namespace (`rows`), and the
 * successful gets of each single record, by "namespace:key" (`keys`): a record the runtime reads
 * once per maintenance tick then counts the ticks.
 */
export function countingDatabase(inner: DatabaseHandler): { db: DatabaseHandler; rows: Map<string, number>; keys: Map<string, number> } {
  const rows = new Map<string, number>();
  const keys = new Map<string, number>();
  const add = (map: Map<string, number>, name: string, n: number): void => {
    map.set(name, (map.get(name) ?? 0) + n);
  };
  const wrap = (tx: KeyValueTransaction): KeyValueTransaction => ({
    async get(namespace, key) {
      const value = await tx.get(namespace, key);
      if (value) {
        add(rows, namespace, 1);
        add(keys, `${namespace}:${key}`, 1);
      }
      return value;
    },
    put: (namespace, key, value) => tx.put(namespace, key, value),
    delete: (namespace, key) => tx.delete(namespace, key),
    async list(namespace) {
      const all = await tx.list(namespace);
      add(rows, namespace, all.length);
      return all;
    },
  });
  return { db: { transaction: (fn) => inner.transaction((tx) => fn(wrap(tx))), close: () => inner.close() }, rows, keys };
}
