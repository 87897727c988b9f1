// Runs in the browser page (bundled by esbuild in store-indexeddb.test.ts, served as /store-page.js):
// the behavioural checks of test/store/behaviour.ts, ported to plain assertions, against
// openIndexedDbDatabase, plus the persistence and encryption checks. Each check resolves with a
// JSON-safe CheckResult; the Node test asserts on it. Nothing here uses vitest.
import { ready } from '../../bindings/index.js';
import {
  encryptDatabase,
  openIndexedDbDatabase,
  StorageClosedError,
  StorageError,
  StorageLockedError,
  TransactionFinishedError,
  WrongStorageKeyError,
  type DatabaseHandler,
  type KeyValueTransaction,
} from '../../src/store/index.js';
import { interleavedIncrements } from '../store/workloads.js';

export interface CheckResult {
  ok: boolean;
  /** Why the check failed (the first failed assertion, or what it threw). */
  failure?: string;
  /** How many assertions ran (a check that ran none is reported as failed). */
  assertions: number;
  /** Data for the Node side to assert on as well. */
  details?: unknown;
}

class AssertionFailure extends Error {}

let assertions = 0;

function fail(message: string): never {
  throw new AssertionFailure(message);
}

function show(value: unknown): string {
  if (value instanceof Uint8Array) return `Uint8Array[${[...value].join(',')}]`;
  if (Array.isArray(value)) return `[${value.map(show).join(', ')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.entries(value)
      .map(([k, v]) => `${k}: ${show(v)}`)
      .join(', ')}}`;
  }
  return JSON.stringify(value) ?? String(value);
}

/** Deep equality for the values these checks compare: primitives, Uint8Arrays, arrays and plain objects. */
function same(actual: unknown, expected: unknown): boolean {
  if (expected instanceof Uint8Array) {
    return actual instanceof Uint8Array && Object.getPrototypeOf(actual) === Uint8Array.prototype && actual.length === expected.length && actual.every((x, i) => x === expected[i]);
  }
  if (Array.isArray(expected)) {
    return Array.isArray(actual) && actual.length === expected.length && expected.every((x, i) => same(actual[i], x));
  }
  if (expected && typeof expected === 'object') {
    if (!actual || typeof actual !== 'object') return false;
    const keys = Object.keys(expected);
    return keys.length === Object.keys(actual).length && keys.every((k) => same((actual as Record<string, unknown>)[k], (expected as Record<string, unknown>)[k]));
  }
  return Object.is(actual, expected);
}

function expectEqual(actual: unknown, expected: unknown, what: string): void {
  assertions++;
  if (!same(actual, expected)) fail(`${what}: expected ${show(expected)}, got ${show(actual)}`);
}

async function expectRejects(promise: Promise<unknown>, check: (error: unknown) => boolean, what: string): Promise<unknown> {
  assertions++;
  try {
    await promise;
  } catch (error) {
    if (!check(error)) fail(`${what}: rejected with the wrong error: ${String((error as { name?: unknown })?.name)} ${String(error)}`);
    return error;
  }
  return fail(`${what}: resolved, expected a rejection`);
}

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

let counter = 0;
/** A database name no other check (or earlier run in this browser profile) used. */
function freshName(check: string): string {
  return `test-${check}-${Date.now()}-${counter++}-${Math.random().toString(36).slice(2)}`;
}

async function withFreshDatabase(check: string, body: (db: DatabaseHandler) => Promise<void>): Promise<void> {
  const db = await openIndexedDbDatabase(freshName(check));
  try {
    await body(db);
  } finally {
    await db.close();
  }
}

// ---------------------------------------------------------------------------------------------------
// The checks of test/store/behaviour.ts

const behaviour: Record<string, () => Promise<unknown>> = {
  async putGetOverwriteDelete() {
    await withFreshDatabase('crud', async (db) => {
      await db.transaction(async (tx) => {
        await tx.put('sessions', 'alice', bytes(1, 2, 3));
        await tx.put('accounts', 'alice', bytes(9));
      });
      await db.transaction(async (tx) => {
        expectEqual(await tx.get('sessions', 'alice'), bytes(1, 2, 3), 'sessions/alice');
        expectEqual(await tx.get('accounts', 'alice'), bytes(9), 'accounts/alice');
        expectEqual(await tx.get('sessions', 'bob'), undefined, 'sessions/bob');
        expectEqual(await tx.get('other', 'alice'), undefined, 'other/alice');
        await tx.put('sessions', 'alice', bytes(4));
        await tx.delete('accounts', 'alice');
        await tx.delete('accounts', 'never-there');
      });
      await db.transaction(async (tx) => {
        expectEqual(await tx.get('sessions', 'alice'), bytes(4), 'overwritten');
        expectEqual(await tx.get('accounts', 'alice'), undefined, 'deleted');
        expectEqual(await tx.list('accounts'), [], 'empty namespace');
      });
    });
  },

  async emptyAndLargeValues() {
    await withFreshDatabase('sizes', async (db) => {
      const large = new Uint8Array(100_000).map((_, i) => (i * 7) & 0xff);
      await db.transaction(async (tx) => {
        await tx.put('ns', 'empty', new Uint8Array(0));
        await tx.put('ns', 'large', large);
      });
      await db.transaction(async (tx) => {
        expectEqual(await tx.get('ns', 'empty'), new Uint8Array(0), 'empty value');
        expectEqual(await tx.get('ns', 'large'), large, 'large value');
      });
    });
  },

  async listSortedByUtf8() {
    await withFreshDatabase('order', async (db) => {
      // UTF-16 order (and IndexedDB's key order) puts '\u{1F600}' before '\uFFFD'; UTF-8 order puts it after.
      const keys = ['b', 'a', 'ab', 'B', '\uFFFD', '\u{1F600}', 'é', '10', '9'];
      await db.transaction(async (tx) => {
        for (const [i, key] of keys.entries()) await tx.put('ns', key, bytes(i));
        await tx.put('other', 'zzz', bytes(0));
        await tx.put('ns\u0000', 'next-namespace', bytes(0)); // sorts right after 'ns' in IndexedDB
        await tx.put('n', 'previous-namespace', bytes(0));
      });
      const expected = ['10', '9', 'B', 'a', 'ab', 'b', 'é', '\uFFFD', '\u{1F600}'];
      await db
        .transaction(async (tx) => {
          const listed = await tx.list('ns');
          expectEqual(
            listed.map((record) => record.key),
            expected,
            'committed keys',
          );
          expectEqual(listed.find((record) => record.key === 'é')?.value, bytes(keys.indexOf('é')), 'value of é');
          await tx.delete('ns', 'a');
          await tx.put('ns', 'aa', bytes(42));
          await tx.put('ns', 'b', bytes(43));
          const merged = await tx.list('ns');
          expectEqual(
            merged.map((record) => record.key),
            ['10', '9', 'B', 'aa', 'ab', 'b', 'é', '\uFFFD', '\u{1F600}'],
            'merged keys',
          );
          expectEqual(merged.find((record) => record.key === 'b')?.value, bytes(43), 'merged value of b');
          throw new Error('roll back');
        })
        .catch((error: unknown) => {
          if (error instanceof AssertionFailure) throw error;
        });
      await db.transaction(async (tx) => {
        expectEqual(
          (await tx.list('ns')).map((record) => record.key),
          expected,
          'keys after rollback',
        );
      });
    });
  },

  async readsOwnWrites() {
    await withFreshDatabase('ryw', async (db) => {
      await db.transaction(async (tx) => {
        await tx.put('ns', 'k', bytes(1));
      });
      await db.transaction(async (tx) => {
        await tx.put('ns', 'k', bytes(2));
        expectEqual(await tx.get('ns', 'k'), bytes(2), 'after put');
        await tx.delete('ns', 'k');
        expectEqual(await tx.get('ns', 'k'), undefined, 'after delete');
        expectEqual(await tx.list('ns'), [], 'list after delete');
        await tx.put('ns', 'k', bytes(3));
        expectEqual(await tx.list('ns'), [{ key: 'k', value: bytes(3) }], 'list after put');
      });
      await db.transaction(async (tx) => expectEqual(await tx.get('ns', 'k'), bytes(3), 'committed'));
    });
  },

  async nothingWrittenOnThrow() {
    await withFreshDatabase('atomic', async (db) => {
      await db.transaction(async (tx) => tx.put('ns', 'kept', bytes(1)));
      const failure = new Error('application failure');
      const thrown = await expectRejects(
        db.transaction(async (tx) => {
          await tx.put('ns', 'new', bytes(2));
          await tx.put('ns', 'kept', bytes(3));
          await tx.delete('ns', 'kept');
          await tx.put('other', 'x', bytes(4));
          throw failure;
        }),
        (error) => error === failure,
        'the same error is rethrown',
      );
      expectEqual(thrown === failure, true, 'identity of the rethrown error');
      await db.transaction(async (tx) => {
        expectEqual(await tx.get('ns', 'kept'), bytes(1), 'kept untouched');
        expectEqual(await tx.get('ns', 'new'), undefined, 'new not written');
        expectEqual(await tx.list('other'), [], 'other namespace not written');
      });
    });
  },

  async returnsFnResult() {
    await withFreshDatabase('result', async (db) => {
      expectEqual(await db.transaction(async () => 'result'), 'result', 'resolved value');
    });
  },

  async serialisedIncrements() {
    let total = -1;
    await withFreshDatabase('increments', async (db) => {
      total = await interleavedIncrements(db);
      expectEqual(total, 200, 'counter after 2 × 100 increments');
    });
    return { total };
  },

  async runsInOrder() {
    await withFreshDatabase('order-of-tx', async (db) => {
      const events: string[] = [];
      const slow = db.transaction(async () => {
        events.push('first start');
        await sleep(20);
        events.push('first end');
      });
      const fast = db.transaction(async () => {
        events.push('second start');
      });
      await Promise.all([slow, fast]);
      expectEqual(events, ['first start', 'first end', 'second start'], 'event order');
    });
  },

  async copiesInAndOut() {
    await withFreshDatabase('copies', async (db) => {
      const secret = bytes(5, 6, 7);
      await db.transaction(async (tx) => {
        await tx.put('ns', 'k', secret);
        secret.fill(0);
        const inside = await tx.get('ns', 'k');
        expectEqual(inside, bytes(5, 6, 7), 'read inside');
        inside!.fill(0);
        const listed = await tx.list('ns');
        listed[0]!.value.fill(0);
        expectEqual(await tx.get('ns', 'k'), bytes(5, 6, 7), 'after zeroing what was read');
      });
      const read = await db.transaction(async (tx) => tx.get('ns', 'k'));
      expectEqual(read, bytes(5, 6, 7), 'committed copy');
      read!.fill(0);
      expectEqual(await db.transaction(async (tx) => tx.get('ns', 'k')), bytes(5, 6, 7), 'stored value after zeroing a read');
      const listed = await db.transaction(async (tx) => tx.list('ns'));
      listed[0]!.value.fill(0);
      expectEqual(await db.transaction(async (tx) => tx.get('ns', 'k')), bytes(5, 6, 7), 'stored value after zeroing a listed value');
      expectEqual(read!.buffer.byteLength, read!.byteLength, 'a plain owned buffer');
      // A view into a larger buffer is stored as its own bytes only.
      const backing = bytes(1, 2, 3, 4, 5, 6);
      await db.transaction(async (tx) => tx.put('ns', 'view', backing.subarray(2, 4)));
      const view = await db.transaction(async (tx) => tx.get('ns', 'view'));
      expectEqual(view, bytes(3, 4), 'a subarray is stored as its bytes');
      expectEqual(view!.buffer.byteLength, 2, 'no bytes beyond the view are stored');
    });
  },

  async finishedTransactionRefused() {
    await withFreshDatabase('leaked', async (db) => {
      let leaked: KeyValueTransaction | undefined;
      await db.transaction(async (tx) => {
        leaked = tx;
      });
      await expectRejects(leaked!.put('ns', 'k', bytes(1)), (e) => e instanceof TransactionFinishedError, 'put on a finished tx');
      await expectRejects(leaked!.get('ns', 'k'), (e) => e instanceof TransactionFinishedError, 'get on a finished tx');
      await expectRejects(leaked!.list('ns'), (e) => e instanceof TransactionFinishedError, 'list on a finished tx');
      expectEqual(await db.transaction(async (tx) => tx.get('ns', 'k')), undefined, 'nothing written by the leaked tx');
    });
  },

  async closeSemantics() {
    const name = freshName('close');
    const db = await openIndexedDbDatabase(name);
    let committed = false;
    const running = db.transaction(async (tx) => {
      await sleep(20);
      await tx.put('ns', 'k', bytes(1));
      committed = true;
    });
    const closing = db.close();
    await expectRejects(
      db.transaction(async () => undefined),
      (e) => e instanceof StorageClosedError,
      'transaction while closing',
    );
    await running;
    await closing;
    expectEqual(committed, true, 'the running transaction finished');
    await db.close();
    await expectRejects(
      db.transaction(async () => undefined),
      (e) => (e as { code?: unknown }).code === 'ERR_STORAGE_CLOSED',
      'transaction after close',
    );
    // The running transaction's write was committed before the close: a new handler sees it.
    const reopened = await openIndexedDbDatabase(name);
    try {
      expectEqual(await reopened.transaction(async (tx) => tx.get('ns', 'k')), bytes(1), 'committed before close');
    } finally {
      await reopened.close();
    }
  },

  async invalidInputs() {
    await withFreshDatabase('inputs', async (db) => {
      const invalid = (e: unknown): boolean => (e as { code?: unknown }).code === 'ERR_INVALID_STORAGE_INPUT';
      await db.transaction(async (tx) => {
        await expectRejects(tx.put('', 'k', bytes(1)), invalid, 'empty namespace');
        await expectRejects(tx.get('ns', '\uD800'), invalid, 'lone surrogate key');
        await expectRejects(tx.put('ns', 'k', [1, 2] as unknown as Uint8Array), invalid, 'array value');
        await expectRejects(tx.list('x'.repeat(1025)), invalid, 'namespace too long');
      });
      await expectRejects(openIndexedDbDatabase(''), invalid, 'empty database name');
    });
  },

  async secondHandlerLocked() {
    const name = freshName('lock');
    const first = await openIndexedDbDatabase(name);
    const error = await expectRejects(openIndexedDbDatabase(name), (e) => e instanceof StorageLockedError && e instanceof StorageError, 'second handler');
    await first.close();
    const second = await openIndexedDbDatabase(name);
    await second.close();
    expectEqual((error as StorageLockedError).code, 'ERR_STORAGE_LOCKED', 'error code');
  },
};

// ---------------------------------------------------------------------------------------------------
// Persistence across a page reload: write, reload (without close), read.

const persistence = {
  /** Commits two records and a rolled-back transaction; deliberately leaves the handler open (the page is then reloaded). */
  async writeBeforeReload(name: string): Promise<void> {
    const db = await openIndexedDbDatabase(name);
    await db.transaction(async (tx) => {
      await tx.put('sessions', 'alice', bytes(1, 2, 3));
      await tx.put('sessions', 'bob', bytes(4));
    });
    await db.transaction(async (tx) => {
      await tx.delete('sessions', 'bob');
      await tx.put('sessions', 'carol', bytes(5));
    });
    await db
      .transaction(async (tx) => {
        await tx.put('sessions', 'rolled-back', bytes(6));
        throw new Error('roll back');
      })
      .catch(() => undefined);
    expectEqual(
      (await db.transaction(async (tx) => tx.list('sessions'))).map((r) => r.key),
      ['alice', 'carol'],
      'before reload',
    );
    (globalThis as { keepHandlerOpen?: unknown }).keepHandlerOpen = db;
  },
  async readAfterReload(name: string): Promise<unknown> {
    const db = await openIndexedDbDatabase(name);
    try {
      const listed = await db.transaction(async (tx) => tx.list('sessions'));
      expectEqual(
        listed,
        [
          { key: 'alice', value: bytes(1, 2, 3) },
          { key: 'carol', value: bytes(5) },
        ],
        'after reload',
      );
      return listed.map((r) => r.key);
    } finally {
      await db.close();
    }
  },
};

// ---------------------------------------------------------------------------------------------------
// encryptDatabase over IndexedDB

const ITERATIONS = 1000;

const encryption = {
  async roundTrip(): Promise<unknown> {
    await ready();
    const name = freshName('encrypted');
    const plaintext = new TextEncoder().encode('the ratchet state of alice');
    const db = await encryptDatabase(await openIndexedDbDatabase(name), { passphrase: 'correct horse battery staple', iterations: ITERATIONS });
    await db.transaction(async (tx) => {
      await tx.put('sessions', 'alice', plaintext);
      await tx.put('sessions', 'bob', bytes(1));
    });
    await db.close();

    // What IndexedDB holds: the header and sealed values, never the plaintext.
    const raw = await openIndexedDbDatabase(name);
    const stored = await raw.transaction(async (tx) => ({ sessions: await tx.list('sessions'), meta: await tx.list('__pqe2ee_meta') }));
    await raw.close();
    const alice = stored.sessions.find((r) => r.key === 'alice')?.value;
    expectEqual(alice?.length, plaintext.length + 29, 'sealed length');
    const text = new TextDecoder('latin1').decode(alice);
    expectEqual(text.includes('ratchet'), false, 'no plaintext in IndexedDB');
    expectEqual(stored.meta.length > 0, true, 'encryption header stored');

    const reopened = await encryptDatabase(await openIndexedDbDatabase(name), { passphrase: 'correct horse battery staple' });
    try {
      const listed = await reopened.transaction(async (tx) => tx.list('sessions'));
      expectEqual(
        listed,
        [
          { key: 'alice', value: plaintext },
          { key: 'bob', value: bytes(1) },
        ],
        'decrypted after reopen',
      );
    } finally {
      await reopened.close();
    }

    const inner = await openIndexedDbDatabase(name);
    const error = await expectRejects(encryptDatabase(inner, { passphrase: 'correct horse battery stapler' }), (e) => e instanceof WrongStorageKeyError, 'wrong passphrase');
    // The inner handler stays open after a failed unlock: the right passphrase still works on it.
    const retried = await encryptDatabase(inner, { passphrase: 'correct horse battery staple' });
    expectEqual(await retried.transaction(async (tx) => tx.get('sessions', 'bob')), bytes(1), 'retry on the same inner handler');
    await retried.close();
    await expectRejects(
      inner.transaction(async () => undefined),
      (e) => e instanceof StorageClosedError,
      'closing the encrypted handler closes inner',
    );
    return { wrongPassphraseCode: (error as StorageError).code, sealedLength: alice?.length };
  },
};

// ---------------------------------------------------------------------------------------------------

async function run(body: () => Promise<unknown>): Promise<CheckResult> {
  assertions = 0;
  try {
    const details = await body();
    if (assertions === 0) return { ok: false, failure: 'the check made no assertion', assertions };
    return { ok: true, assertions, ...(details === undefined ? {} : { details }) };
  } catch (error) {
    const failure = error instanceof AssertionFailure ? error.message : `threw ${String((error as { name?: unknown })?.name)}: ${String(error)}`;
    return { ok: false, failure, assertions };
  }
}

export const behaviourChecks = Object.keys(behaviour);

export const storePage = {
  behaviourChecks,
  runBehaviour: (check: string): Promise<CheckResult> => {
    const body = behaviour[check];
    return run(body ?? (() => Promise.reject(new Error(`no check named ${check}`))));
  },
  writeBeforeReload: (name: string): Promise<CheckResult> => run(() => persistence.writeBeforeReload(name)),
  readAfterReload: (name: string): Promise<CheckResult> => run(() => persistence.readAfterReload(name)),
  encryptedRoundTrip: (): Promise<CheckResult> => run(encryption.roundTrip),
  /** The harness itself: a failing assertion must come back as ok: false. */
  deliberateFailure: (): Promise<CheckResult> =>
    run(async () => {
      await withFreshDatabase('harness', async (db) => {
        await db.transaction(async (tx) => tx.put('ns', 'k', bytes(1)));
        expectEqual(await db.transaction(async (tx) => tx.get('ns', 'k')), bytes(2), 'deliberately wrong expectation');
      });
    }),
  /** Whether this page has IndexedDB and Web Locks at all. */
  environment: () => ({ indexedDB: typeof indexedDB !== 'undefined', locks: typeof navigator !== 'undefined' && !!navigator.locks, secure: isSecureContext }),
};

export type StorePage = typeof storePage;
