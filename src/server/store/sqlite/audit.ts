/** SQLite storage of the audit log ({@link AuditStore}), in the server's database file. */
import type { AuditBatch, AuditSnapshot, AuditStore, StoredMerkleNode } from '../audit-types.js';
import { bytes, type Database } from './statements.js';

export class SqliteAuditStore implements AuditStore {
  private readonly statements;

  constructor(private readonly db: Database) {
    this.statements = {
      writerState: db.prepare('SELECT state FROM audit_writer WHERE id = 1'),
      putWriterState: db.prepare('INSERT INTO audit_writer (id, state) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET state = excluded.state'),
      insertWriterState: db.prepare('INSERT OR IGNORE INTO audit_writer (id, state) VALUES (1, ?)'),
      size: db.prepare('SELECT COUNT(*) AS n FROM audit_entries'),
      nodes: db.prepare('SELECT level, idx, hash FROM audit_nodes'),
      insertEntry: db.prepare('INSERT INTO audit_entries (idx, entry) VALUES (?, ?)'),
      insertNode: db.prepare('INSERT OR REPLACE INTO audit_nodes (level, idx, hash) VALUES (?, ?, ?)'),
      putKeyEntry: db.prepare('INSERT INTO audit_key_entries (user_id, device_id, idx) VALUES (?, ?, ?) ON CONFLICT (user_id, device_id) DO UPDATE SET idx = excluded.idx'),
      readEntries: db.prepare('SELECT entry FROM audit_entries WHERE idx >= ? AND idx < ? ORDER BY idx'),
      keyEntry: db.prepare('SELECT idx FROM audit_key_entries WHERE user_id = ? AND device_id = ?'),
    };
  }

  async load(): Promise<AuditSnapshot> {
    const row = this.statements.writerState.get() as { state: Buffer } | undefined;
    const size = (this.statements.size.get() as { n: number }).n;
    const nodes = (this.statements.nodes.all() as { level: number; idx: number; hash: Buffer }[]).map(
      (n): StoredMerkleNode => ({ level: n.level, index: n.idx, hash: bytes(n.hash) }),
    );
    return { writerState: row ? bytes(row.state) : undefined, size, nodes };
  }

  async create(writerState: Uint8Array): Promise<boolean> {
    return this.statements.insertWriterState.run(writerState).changes === 1;
  }

  async append(batch: AuditBatch): Promise<void> {
    const s = this.statements;
    this.db.transaction(() => {
      const size = (s.size.get() as { n: number }).n;
      if (batch.entries[0] && batch.entries[0].index !== size) throw new Error(`audit batch starts at ${batch.entries[0].index}, the log has ${size} entries`);
      for (const entry of batch.entries) s.insertEntry.run(entry.index, entry.bytes);
      for (const node of batch.nodes) s.insertNode.run(node.level, node.index, node.hash);
      for (const ref of batch.keyEntries) s.putKeyEntry.run(ref.userId, ref.deviceId, ref.index);
      s.putWriterState.run(batch.writerState);
    })();
  }

  async readEntries(start: number, count: number): Promise<Uint8Array[]> {
    return (this.statements.readEntries.all(start, start + count) as { entry: Buffer }[]).map((r) => bytes(r.entry));
  }

  async findKeyEntry(userId: string, deviceId: string): Promise<number | undefined> {
    return (this.statements.keyEntry.get(userId, deviceId) as { idx: number } | undefined)?.idx;
  }
}
