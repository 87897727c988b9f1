// The behavioural suite every DatabaseHandler must pass (memory, SQLite, and both encrypted).
import { describe, expect, it } from 'vitest';
import type { DatabaseHandler } from '../../src/store/index.js';
import { StorageClosedError, TransactionFinishedError } from '../../src/store/index.js';
import { interleavedIncrements } from './workloads.js';

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);

export function describeDatabaseBehaviour(name: string, open: () => Promise<DatabaseHandler>): void {
  describe(`${name}: DatabaseHandler behaviour`, () => {
    it('puts, gets, overwrites and deletes records, by namespace', async () => {
      const db = await open();
      await db.transaction(async (tx) => {
        await tx.put('sessions', 'alice', bytes(1, 2, 3));
        await tx.put('accounts', 'alice', bytes(9));
      });
      await db.transaction(async (tx) => {
        expect(await tx.get('sessions', 'alice')).toEqual(bytes(1, 2, 3));
        expect(await tx.get('accounts', 'alice')).toEqual(bytes(9));
        expect(await tx.get('sessions', 'bob')).toBeUndefined();
        expect(await tx.get('other', 'alice')).toBeUndefined();
        await tx.put('sessions', 'alice', bytes(4));
        await tx.delete('accounts', 'alice');
        await tx.delete('accounts', 'never-there');
      });
      await db.transaction(async (tx) => {
        expect(await tx.get('sessions', 'alice')).toEqual(bytes(4));
        expect(await tx.get('accounts', 'alice')).toBeUndefined();
        expect(await tx.list('accounts')).toEqual([]);
      });
      await db.close();
    });

    it('stores empty and large values exactly', async () => {
      const db = await open();
      const large = new Uint8Array(100_000).map((_, i) => (i * 7) & 0xff);
      await db.transaction(async (tx) => {
        await tx.put('ns', 'empty', new Uint8Array(0));
        await tx.put('ns', 'large', large);
      });
      await db.transaction(async (tx) => {
        expect(await tx.get('ns', 'empty')).toEqual(new Uint8Array(0));
        expect(await tx.get('ns', 'large')).toEqual(large);
      });
      await db.close();
    });

    it('lists a namespace sorted by the UTF-8 byte order of keys, merging uncommitted writes', async () => {
      const db = await open();
      // UTF-16 order would put '\u{1F600}' (surrogates 0xD83D...) before '\uFFFD'; UTF-8 order puts it after.
      const keys = ['b', 'a', 'ab', 'B', '\uFFFD', '\u{1F600}', 'é', '10', '9'];
      await db.transaction(async (tx) => {
        for (const [i, key] of keys.entries()) await tx.put('ns', key, bytes(i));
        await tx.put('other', 'zzz', bytes(0));
      });
      const expected = ['10', '9', 'B', 'a', 'ab', 'b', 'é', '\uFFFD', '\u{1F600}'];
      const encoder = new TextEncoder();
      const byUtf8 = [...keys].sort((x, y) => Buffer.compare(encoder.encode(x), encoder.encode(y)));
      expect(byUtf8).toEqual(expected);
      await db
        .transaction(async (tx) => {
          const listed = await tx.list('ns');
          expect(listed.map((record) => record.key)).toEqual(expected);
          expect(listed.find((record) => record.key === 'é')?.value).toEqual(bytes(keys.indexOf('é')));
          await tx.delete('ns', 'a');
          await tx.put('ns', 'aa', bytes(42));
          await tx.put('ns', 'b', bytes(43));
          const merged = await tx.list('ns');
          expect(merged.map((record) => record.key)).toEqual(['10', '9', 'B', 'aa', 'ab', 'b', 'é', '\uFFFD', '\u{1F600}']);
          expect(merged.find((record) => record.key === 'b')?.value).toEqual(bytes(43));
          throw new Error('roll back');
        })
        .catch(() => undefined);
      await db.transaction(async (tx) => {
        expect((await tx.list('ns')).map((record) => record.key)).toEqual(expected);
      });
      await db.close();
    });

    it('reads its own writes inside a transaction (get and list)', async () => {
      const db = await open();
      await db.transaction(async (tx) => {
        await tx.put('ns', 'k', bytes(1));
      });
      await db.transaction(async (tx) => {
        await tx.put('ns', 'k', bytes(2));
        expect(await tx.get('ns', 'k')).toEqual(bytes(2));
        await tx.delete('ns', 'k');
        expect(await tx.get('ns', 'k')).toBeUndefined();
        expect(await tx.list('ns')).toEqual([]);
        await tx.put('ns', 'k', bytes(3));
        expect(await tx.list('ns')).toEqual([{ key: 'k', value: bytes(3) }]);
      });
      await db.transaction(async (tx) => expect(await tx.get('ns', 'k')).toEqual(bytes(3)));
      await db.close();
    });

    it('writes nothing when fn throws, and rethrows the same error', async () => {
      const db = await open();
      await db.transaction(async (tx) => tx.put('ns', 'kept', bytes(1)));
      const failure = new Error('application failure');
      await expect(
        db.transaction(async (tx) => {
          await tx.put('ns', 'new', bytes(2));
          await tx.put('ns', 'kept', bytes(3));
          await tx.delete('ns', 'kept');
          await tx.put('other', 'x', bytes(4));
          throw failure;
        }),
      ).rejects.toBe(failure);
      await db.transaction(async (tx) => {
        expect(await tx.get('ns', 'kept')).toEqual(bytes(1));
        expect(await tx.get('ns', 'new')).toBeUndefined();
        expect(await tx.list('other')).toEqual([]);
      });
      await db.close();
    });

    it('returns the value fn resolves with', async () => {
      const db = await open();
      expect(await db.transaction(async () => 'result')).toBe('result');
      await db.close();
    });

    it('serialises concurrent transactions: 2 × 100 interleaved increments give 200', async () => {
      const db = await open();
      expect(await interleavedIncrements(db)).toBe(200);
      await db.close();
    });

    it('runs transactions one at a time, in the order they were started', async () => {
      const db = await open();
      const events: string[] = [];
      const slow = db.transaction(async () => {
        events.push('first start');
        await new Promise((resolve) => setTimeout(resolve, 20));
        events.push('first end');
      });
      const fast = db.transaction(async () => {
        events.push('second start');
      });
      await Promise.all([slow, fast]);
      expect(events).toEqual(['first start', 'first end', 'second start']);
      await db.close();
    });

    it('copies values in and out: callers may zero their buffers', async () => {
      const db = await open();
      const secret = bytes(5, 6, 7);
      await db.transaction(async (tx) => {
        await tx.put('ns', 'k', secret);
        secret.fill(0);
        const inside = await tx.get('ns', 'k');
        expect(inside).toEqual(bytes(5, 6, 7));
        inside!.fill(0);
        const listed = await tx.list('ns');
        listed[0]!.value.fill(0);
        expect(await tx.get('ns', 'k')).toEqual(bytes(5, 6, 7));
      });
      const read = await db.transaction(async (tx) => tx.get('ns', 'k'));
      expect(read).toEqual(bytes(5, 6, 7));
      read!.fill(0);
      expect(await db.transaction(async (tx) => tx.get('ns', 'k'))).toEqual(bytes(5, 6, 7));
      expect(read!.buffer.byteLength).toBe(read!.byteLength); // a plain owned buffer, not a view into shared memory
      await db.close();
    });

    it('refuses a transaction object used after its transaction finished', async () => {
      const db = await open();
      let leaked: Parameters<Parameters<DatabaseHandler['transaction']>[0]>[0] | undefined;
      await db.transaction(async (tx) => {
        leaked = tx;
      });
      await expect(leaked!.put('ns', 'k', bytes(1))).rejects.toBeInstanceOf(TransactionFinishedError);
      await expect(leaked!.get('ns', 'k')).rejects.toBeInstanceOf(TransactionFinishedError);
      expect(await db.transaction(async (tx) => tx.get('ns', 'k'))).toBeUndefined();
      await db.close();
    });

    it('close() waits for running transactions, then refuses new ones; it is idempotent', async () => {
      const db = await open();
      let committed = false;
      const running = db.transaction(async (tx) => {
        await new Promise((resolve) => setTimeout(resolve, 20));
        await tx.put('ns', 'k', bytes(1));
        committed = true;
      });
      const closing = db.close();
      await expect(db.transaction(async () => undefined)).rejects.toBeInstanceOf(StorageClosedError);
      await running;
      await closing;
      expect(committed).toBe(true);
      await db.close();
      await expect(db.transaction(async () => undefined)).rejects.toMatchObject({ code: 'ERR_STORAGE_CLOSED' });
    });
  });
}
