import { statSync, writeFileSync, existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import {
  openSqliteDatabase,
  SQLITE_APPLICATION_ID,
  SQLITE_SCHEMA_VERSION,
  StorageLockedError,
  UnsupportedStorageVersionError,
  InvalidStorageInputError,
} from '../../src/store/node.js';
import { describeDatabaseBehaviour } from './behaviour.js';
import { useTempDir } from './tmp.js';

const temp = useTempDir('sqlite');

describeDatabaseBehaviour('sqlite', () => openSqliteDatabase(temp.nextPath()));

describe('sqlite: file format and lifecycle', () => {
  it('keeps committed data across close and reopen', async () => {
    const path = temp.nextPath();
    const first = await openSqliteDatabase(path);
    await first.transaction(async (tx) => {
      await tx.put('ns', 'a', Uint8Array.of(1));
      await tx.put('ns', 'b', Uint8Array.of(2));
    });
    await first.close();
    const second = await openSqliteDatabase(path);
    expect(await second.transaction(async (tx) => tx.list('ns'))).toEqual([
      { key: 'a', value: Uint8Array.of(1) },
      { key: 'b', value: Uint8Array.of(2) },
    ]);
    await second.close();
  });

  it('creates the file with mode 0600, in WAL mode, with the schema version and application id', async () => {
    const path = temp.nextPath();
    const db = await openSqliteDatabase(path);
    await db.transaction(async (tx) => tx.put('ns', 'k', Uint8Array.of(1)));
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(`${path}-wal`).mode & 0o777).toBe(0o600);
    expect(existsSync(`${path}-shm`)).toBe(false); // exclusive locking: the WAL index lives in heap memory
    await db.close();
    const raw = new Database(path, { readonly: true });
    expect(raw.pragma('user_version', { simple: true })).toBe(SQLITE_SCHEMA_VERSION);
    expect(raw.pragma('application_id', { simple: true })).toBe(SQLITE_APPLICATION_ID);
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(raw.prepare('SELECT namespace, key, value FROM records').all()).toEqual([{ namespace: 'ns', key: 'k', value: Buffer.of(1) }]);
    raw.close();
  });

  it('refuses a second handler on the same file while the first is open', async () => {
    const path = temp.nextPath();
    const first = await openSqliteDatabase(path);
    await first.transaction(async (tx) => tx.put('ns', 'k', Uint8Array.of(1)));
    await expect(openSqliteDatabase(path)).rejects.toBeInstanceOf(StorageLockedError);
    await first.close();
    const again = await openSqliteDatabase(path);
    // The lock is held from open, even by a handler that has not read or written yet.
    await expect(openSqliteDatabase(path)).rejects.toMatchObject({ code: 'ERR_STORAGE_LOCKED' });
    expect(await again.transaction(async (tx) => tx.get('ns', 'k'))).toEqual(Uint8Array.of(1));
    await again.close();
  });

  it('refuses a file of a newer schema version, and foreign SQLite files', async () => {
    const newer = temp.nextPath();
    const raw = new Database(newer);
    raw.pragma(`application_id = ${SQLITE_APPLICATION_ID}`);
    raw.pragma(`user_version = ${SQLITE_SCHEMA_VERSION + 1}`);
    raw.close();
    await expect(openSqliteDatabase(newer)).rejects.toBeInstanceOf(UnsupportedStorageVersionError);

    const foreignId = temp.nextPath();
    const other = new Database(foreignId);
    other.pragma('application_id = 42');
    other.close();
    await expect(openSqliteDatabase(foreignId)).rejects.toBeInstanceOf(UnsupportedStorageVersionError);

    const foreignTables = temp.nextPath();
    const app = new Database(foreignTables);
    app.exec('CREATE TABLE users (id INTEGER)');
    app.close();
    await expect(openSqliteDatabase(foreignTables)).rejects.toBeInstanceOf(UnsupportedStorageVersionError);
  });

  it('refuses a file that is not SQLite with a typed error', async () => {
    const path = temp.nextPath();
    writeFileSync(path, 'this is not a database, just some text long enough to have a header'.repeat(20));
    await expect(openSqliteDatabase(path)).rejects.toMatchObject({ code: 'ERR_STORAGE_IO' });
  });

  it('refuses a missing path and :memory:', async () => {
    await expect(openSqliteDatabase('')).rejects.toBeInstanceOf(InvalidStorageInputError);
    await expect(openSqliteDatabase(':memory:')).rejects.toBeInstanceOf(InvalidStorageInputError);
  });
});
