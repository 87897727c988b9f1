// The SQLite audit store: a batch is all or nothing, a batch that would leave a gap is refused
// without writing, and a reopened database gives back a writer and a tree that continue the same log
// (the root recomputed from the stored entries by an independent RFC 6962 hash).
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AuditCategory } from '../../src/audit/categories.js';
import { LogWriter } from '../../src/audit/entries.js';
import { MemoryMerkleStore, MerkleTree } from '../../src/audit/merkle-tree.js';
import { openSqliteStore } from '../../src/server/index.js';
import type { AuditStore } from '../../src/server/store/types.js';

const dir = mkdtempSync(join(tmpdir(), 'pqe2ee-audit-store-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const LOG_ID = new TextEncoder().encode('audit.test/audit');
const sha = (...parts: Uint8Array[]): Buffer => createHash('sha256').update(Buffer.concat(parts)).digest();

/** RFC 6962 MTH over the raw entries, written here from the RFC's definition. */
function referenceRoot(entries: Uint8Array[]): Buffer {
  if (entries.length === 0) return sha();
  if (entries.length === 1) return sha(Buffer.from([0]), entries[0] as Uint8Array);
  let k = 1;
  while (k * 2 < entries.length) k *= 2;
  return sha(Buffer.from([1]), referenceRoot(entries.slice(0, k)), referenceRoot(entries.slice(k)));
}

async function appendBatch(audit: AuditStore, writer: LogWriter, tree: MerkleTree, count: number, now: number) {
  const entries = [];
  const nodes = [];
  for (let i = 0; i < count; i++) {
    const result = writer.append(AuditCategory.SESSION_SUITE, new TextEncoder().encode(`event ${writer.nextIndex}`), now + i);
    entries.push({ index: result.entry.index, bytes: result.encodedEntry });
    nodes.push(...tree.append(result.leafHash));
  }
  await audit.append({ entries, nodes, writerState: writer.exportState(), keyEntries: [{ userId: 'alice', deviceId: 'd1', index: entries[0]?.index ?? -1 }] });
  writer.commit();
}

describe('SQLite audit store', () => {
  it('persists entries, nodes and writer state so a reopened log continues the same chain and tree', async () => {
    const file = join(dir, 'reopen.db');
    let store = await openSqliteStore(file);
    const audit = store.audit;
    const writer = LogWriter.create({ logId: LOG_ID, initialKey: new Uint8Array(32).fill(7) });
    expect(await audit.create(writer.exportState())).toBe(true);
    expect(await audit.create(writer.exportState())).toBe(false);
    const memory = new MemoryMerkleStore();
    let tree = MerkleTree.open(memory, 0);
    await appendBatch(audit, writer, tree, 5, 1000);
    await store.close();

    store = await openSqliteStore(file);
    const snapshot = await store.audit.load();
    expect(snapshot.size).toBe(5);
    const reloaded = new MemoryMerkleStore();
    reloaded.put(snapshot.nodes);
    tree = MerkleTree.open(reloaded, snapshot.size);
    const restored = LogWriter.restore(snapshot.writerState as Uint8Array);
    expect(restored.nextIndex).toBe(5);
    await appendBatch(store.audit, restored, tree, 3, 2000);
    const stored = await store.audit.readEntries(0, 100);
    expect(stored.length).toBe(8);
    expect(Buffer.from(tree.root()).equals(referenceRoot(stored))).toBe(true);
    expect(await store.audit.findKeyEntry('alice', 'd1')).toBe(5);
    expect(await store.audit.findKeyEntry('alice', 'nope')).toBeUndefined();
    await store.close();
  });

  it('refuses a batch that does not continue the stored log, and writes none of it', async () => {
    const store = await openSqliteStore(join(dir, 'gap.db'));
    const writer = LogWriter.create({ logId: LOG_ID, initialKey: new Uint8Array(32).fill(9) });
    await store.audit.create(writer.exportState());
    const tree = MerkleTree.open(new MemoryMerkleStore(), 0);
    await appendBatch(store.audit, writer, tree, 2, 1000);
    const stateBefore = (await store.audit.load()).writerState;
    const gap = writer.append(AuditCategory.GROUP, new Uint8Array(3), 3000);
    await expect(
      store.audit.append({
        entries: [{ index: gap.entry.index + 1, bytes: gap.encodedEntry }],
        nodes: [],
        writerState: writer.exportState(),
        keyEntries: [{ userId: 'mallory', deviceId: 'x', index: 9 }],
      }),
    ).rejects.toThrow(/starts at 3/);
    writer.rollback();
    const after = await store.audit.load();
    expect(after.size).toBe(2);
    expect(Buffer.from(after.writerState as Uint8Array).equals(Buffer.from(stateBefore as Uint8Array))).toBe(true);
    expect(await store.audit.findKeyEntry('mallory', 'x')).toBeUndefined();
    await store.close();
  });
});
