// Bad input to every handler gives typed errors, and never reaches the backend.
import { describe, expect, it } from 'vitest';
import {
  createMemoryDatabase,
  encryptDatabase,
  InvalidStorageInputError,
  MAX_NAME_BYTES,
  StorageError,
  type DatabaseHandler,
  type KeyValueTransaction,
} from '../../src/store/index.js';
import { Pqe2eeError } from '../../src/errors.js';
import { openSqliteDatabase } from '../../src/store/node.js';
import { useTempDir } from './tmp.js';

const temp = useTempDir('inputs');

const handlers: Array<[string, () => Promise<DatabaseHandler>]> = [
  ['memory', async () => createMemoryDatabase()],
  ['sqlite', () => openSqliteDatabase(temp.nextPath())],
  ['encrypted', () => encryptDatabase(createMemoryDatabase(), { key: new Uint8Array(32) })],
];

const badNames: unknown[] = ['', 'x'.repeat(MAX_NAME_BYTES + 1), 'é'.repeat(MAX_NAME_BYTES / 2 + 1), '\uD800', 'a\uDC00b', 42, undefined, null];
const badValues: unknown[] = ['text', [1, 2], new ArrayBuffer(4), new DataView(new ArrayBuffer(4)), undefined, null, 7];

async function expectInvalid(run: () => Promise<unknown>): Promise<void> {
  const error = await run().then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(InvalidStorageInputError);
  expect(error).toBeInstanceOf(StorageError);
  expect(error).toBeInstanceOf(Pqe2eeError);
  expect((error as InvalidStorageInputError).code).toBe('ERR_INVALID_STORAGE_INPUT');
}

describe.each(handlers)('%s: bad input', (_name, open) => {
  it('refuses bad namespaces and keys in every operation, and bad values in put', async () => {
    const db = await open();
    await db.transaction(async (tx: KeyValueTransaction) => {
      for (const bad of badNames) {
        const name = bad as string;
        await expectInvalid(() => tx.get(name, 'k'));
        await expectInvalid(() => tx.get('ns', name));
        await expectInvalid(() => tx.put(name, 'k', new Uint8Array(1)));
        await expectInvalid(() => tx.put('ns', name, new Uint8Array(1)));
        await expectInvalid(() => tx.delete(name, 'k'));
        await expectInvalid(() => tx.delete('ns', name));
        await expectInvalid(() => tx.list(name));
      }
      for (const bad of badValues) await expectInvalid(() => tx.put('ns', 'k', bad as Uint8Array));
      expect(await tx.list('ns')).toEqual([]);
    });
    await db.close();
  });

  it('accepts names at the limit, a Buffer value, and keys with NUL and astral characters', async () => {
    const db = await open();
    const longest = 'x'.repeat(MAX_NAME_BYTES);
    const longestMultibyte = 'é'.repeat(MAX_NAME_BYTES / 2);
    await db.transaction(async (tx) => {
      await tx.put(longest, longestMultibyte, Buffer.from([1, 2]));
      await tx.put('ns', 'a\u0000b', Uint8Array.of(3));
      await tx.put('ns', 'a', Uint8Array.of(4));
      await tx.put('ns', '\u{1F511}', Uint8Array.of(5));
    });
    await db.transaction(async (tx) => {
      const value = await tx.get(longest, longestMultibyte);
      expect(value).toEqual(Uint8Array.of(1, 2));
      expect(Buffer.isBuffer(value)).toBe(false);
      expect(await tx.get('ns', 'a\u0000b')).toEqual(Uint8Array.of(3));
      expect((await tx.list('ns')).map((record) => record.key)).toEqual(['a', 'a\u0000b', '\u{1F511}']);
    });
    await db.close();
  });
});
