/** SQLite storage of the audit log ({@link AuditStore}), in the server's database file. */
import type { AuditBatch, AuditSnapshot, AuditStore, StoredMerkleNode } from '../audit-types.js';
import type BetterSqlite3 from 'better-sqlite3';
import { bytes, type Database } from './statements.js';

/** Rows per multi-row INSERT: a batch of thousands of entries runs a few statements, not one per row. */
const ROWS_PER_INSERT = 64;

const values = (columns: number, rows: number): string => Array.from({ length: rows }, () => `(${Array(columns).fill('?').join(', ')})`).join(', ');

export class SqliteAuditStore implements AuditStore {
  private readonly statements;

  constructor(private readonly db: Database) {
    this.statements = {
      writerState: db.prepare('SELECT state FROM audit_writer WHERE id = 1'),
      putWriterState: db.prepare('INSERT INTO audit_writer (id, state) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET state = excluded.state'),
      insertWriterState: db.prepare('INSERT OR IGNORE INTO audit_writer (id, state) VALUES (1, ?)'),
      size: db.prepare('SELECT COUNT(*) AS n FROM audit_entries'),
      // O(log n) on the rowid; COUNT(*) reads every row and made each batch slower as the log grew.
      // Equal to the size because entries are only ever appended without a gap (checked below).
      lastIndex: db.prepare('SELECT MAX(idx) AS last FROM audit_entries'),
      nodes: db.prepare('SELECT level, idx, hash FROM audit_nodes'),
      insertEntry: db.prepare('INSERT INTO audit_entries (idx, entry) VALUES (?, ?)'),
      insertNode: db.prepare('INSERT OR REPLACE INTO audit_nodes (level, idx, hash) VALUES (?, ?, ?)'),
      insertEntries: db.prepare(`INSERT INTO audit_entries (idx, entry) VALUES ${values(2, ROWS_PER_INSERT)}`),
      insertNodes: db.prepare(`INSERT OR REPLACE INTO audit_nodes (level, idx, hash) VALUES ${values(3, ROWS_PER_INSERT)}`),
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
    const { entries, nodes } = batch;
    const first = entries[0]?.index;
    entries.forEach((entry, i) => {
      if (first !== undefined && entry.index !== first + i) throw new Error(`audit batch entries are not consecutive at ${entry.index}`);
    });
    const entryValues: unknown[] = [];
    for (const entry of entries) entryValues.push(entry.index, entry.bytes);
    const nodeValues: unknown[] = [];
    for (const node of nodes) nodeValues.push(node.level, node.index, node.hash);
    this.db.transaction(() => {
      const last = (s.lastIndex.get() as { last: number | null }).last;
      const size = last === null ? 0 : last + 1;
      if (first !== undefined && first !== size) throw new Error(`audit batch starts at ${first}, the log has ${size} entries`);
      insertRows(s.insertEntries, s.insertEntry, entryValues, 2);
      insertRows(s.insertNodes, s.insertNode, nodeValues, 3);
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

/** Runs `many` (ROWS_PER_INSERT rows) over full chunks of `flat` and `one` (one row) over the rest. */
function insertRows(many: BetterSqlite3.Statement, one: BetterSqlite3.Statement, flat: unknown[], columns: number): void {
  const chunk = columns * ROWS_PER_INSERT;
  let at = 0;
  for (; at + chunk <= flat.length; at += chunk) many.run(flat.slice(at, at + chunk));
  for (; at < flat.length; at += columns) one.run(flat.slice(at, at + columns));
}
