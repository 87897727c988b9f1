// The server's SAM: concurrent events share durable transactions, every resolved index is stored,
// a failed transaction stores nothing and the log goes on from what is stored without a gap or a
// reused key (the stored entries verify as one chain against the tree's root), and bounds hold.
import { describe, expect, it } from 'vitest';
import { AuditCategory } from '../../src/audit/categories.js';
import { decodeEntry } from '../../src/audit/entry-format.js';
import { verifyEntries } from '../../src/audit/entry-verifier.js';
import { AuditFormatError } from '../../src/errors.js';
import { MAX_AUDIT_EVENT_BYTES, SecurityAuditModule } from '../../src/server/audit/sam.js';
import { openSqliteStore } from '../../src/server/index.js';
import type { AuditBatch, AuditStore } from '../../src/server/store/types.js';

const LOG_ID = new TextEncoder().encode('audit.test/audit');
const key = () => new Uint8Array(32).fill(3);

/** Wraps a store so a test can make chosen transactions fail, as a full disk would. */
function flaky(inner: AuditStore) {
  const control = { failNext: 0, appends: 0, failLoads: false };
  const store: AuditStore = {
    load: () => (control.failLoads ? Promise.reject(new Error('database gone')) : inner.load()),
    create: (state) => inner.create(state),
    readEntries: (start, count) => inner.readEntries(start, count),
    findKeyEntry: (user, device) => inner.findKeyEntry(user, device),
    async append(batch: AuditBatch) {
      control.appends++;
      if (control.failNext > 0) {
        control.failNext--;
        throw new Error('disk full');
      }
      await inner.append(batch);
    },
  };
  return { store, control };
}

describe('SecurityAuditModule', () => {
  it('groups concurrent events into few transactions and resolves each with its stored index', async () => {
    const db = await openSqliteStore(':memory:');
    const { store, control } = flaky(db.audit);
    const sam = await SecurityAuditModule.open(store, { logId: LOG_ID, initialKey: key });
    const indexes = await Promise.all(Array.from({ length: 500 }, (_, i) => sam.record({ mask: AuditCategory.SESSION_SUITE, event: { i } })));
    expect(indexes).toEqual(Array.from({ length: 500 }, (_, i) => i));
    expect(control.appends).toBe(1);
    const stored = (await db.audit.readEntries(0, 1000)).map(decodeEntry);
    const report = verifyEntries({ logId: LOG_ID, entries: stored, checkpoint: { size: sam.size, rootHash: sam.merkleTree.root() } });
    expect(report.failures).toEqual([]);
    await sam.close();
    await db.close();
  });

  it('after a failed transaction stores nothing of it and continues the chain from what is stored', async () => {
    const db = await openSqliteStore(':memory:');
    const { store, control } = flaky(db.audit);
    const sam = await SecurityAuditModule.open(store, { logId: LOG_ID, initialKey: key });
    await sam.record({ mask: AuditCategory.GROUP, event: { before: true } });
    control.failNext = 1;
    const failed = await Promise.allSettled([1, 2, 3].map((n) => sam.record({ mask: AuditCategory.GROUP, event: { n } })));
    expect(failed.every((r) => r.status === 'rejected')).toBe(true);
    expect(sam.size).toBe(1);
    const later = await sam.record({ mask: AuditCategory.KEY_PUBLICATION, event: { after: true }, visibility: 'public', keyEntry: { userId: 'bob', deviceId: 'd' } });
    expect(later).toBe(1);
    expect(await db.audit.findKeyEntry('bob', 'd')).toBe(1);
    const stored = (await db.audit.readEntries(0, 10)).map(decodeEntry);
    expect(stored.length).toBe(2);
    const report = verifyEntries({ logId: LOG_ID, entries: stored, checkpoint: { size: 2, rootHash: sam.merkleTree.root() } });
    expect(report.failures).toEqual([]);
    await sam.close();
    await expect(sam.record({ mask: AuditCategory.GROUP, event: {} })).rejects.toThrow(/closed/);
    await db.close();
  });

  it('refuses an oversized event and a stored log with another id', async () => {
    const db = await openSqliteStore(':memory:');
    const sam = await SecurityAuditModule.open(db.audit, { logId: LOG_ID, initialKey: key });
    await expect(sam.record({ mask: AuditCategory.GROUP, event: { x: 'a'.repeat(MAX_AUDIT_EVENT_BYTES) } })).rejects.toBeInstanceOf(AuditFormatError);
    await sam.close();
    await expect(SecurityAuditModule.open(db.audit, { logId: new TextEncoder().encode('other/audit'), initialKey: key })).rejects.toThrow(/different log id/);
    await db.close();
  });

  it('rejects an event with a bad mask alone, without failing the events sharing its transaction', async () => {
    const db = await openSqliteStore(':memory:');
    const sam = await SecurityAuditModule.open(db.audit, { logId: LOG_ID, initialKey: key });
    const results = await Promise.allSettled([
      sam.record({ mask: AuditCategory.GROUP, event: { ok: 1 } }),
      sam.record({ mask: 1 << 30, event: { reserved: true } }),
      sam.record({ mask: AuditCategory.GROUP, event: { ok: 2 } }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(sam.size).toBe(2);
    await sam.close();
    await db.close();
  });

  it('stops, rejecting every event, when the store cannot be re-read after a failed write', async () => {
    const db = await openSqliteStore(':memory:');
    const { store, control } = flaky(db.audit);
    const sam = await SecurityAuditModule.open(store, { logId: LOG_ID, initialKey: key });
    control.failNext = 1;
    control.failLoads = true;
    await expect(sam.record({ mask: AuditCategory.GROUP, event: {} })).rejects.toThrow(/disk full/);
    await new Promise((resolve) => setImmediate(resolve));
    control.failLoads = false;
    await expect(sam.record({ mask: AuditCategory.GROUP, event: {} })).rejects.toThrow(/restart the server/);
    expect((await db.audit.readEntries(0, 10)).length).toBe(0);
    await sam.close();
    await db.close();
  });
});
