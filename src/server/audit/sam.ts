/**
 * The server's Security Audit Module (docs/audit.md): the one place the server records security
 * events. Events from concurrent requests share one durable transaction (group commit), so a
 * record() resolves only after its entry, the Merkle nodes it completes and the evolved writer
 * state are stored together: a crash never leaves a gap or a key that could be reused.
 */
import { requireEntryMask } from '../../audit/categories.js';
import { LogWriter } from '../../audit/entries.js';
import { MemoryMerkleStore, MerkleTree } from '../../audit/merkle-tree.js';
import { AuditFormatError, AuditStateError } from '../../errors.js';
import { hashesEqual } from '../../audit/merkle.js';
import type { AuditStore, KeyEntryRef, StoredMerkleNode } from '../store/audit-types.js';
import type { WriterStateCipher } from './writer-state-seal.js';

const BARE_STATE: WriterStateCipher = { seal: (state) => state.slice(), open: (stored) => stored.slice() };

/** One security event as the server hands it to the SAM. */
export interface AuditEvent {
  /** The public category mask W_j (AuditCategory bits). */
  mask: number;
  /** What happened; stored as UTF-8 JSON, sealed unless `visibility` is 'public'. */
  event: Record<string, unknown>;
  /** 'public': the event is readable by anyone (key transparency); default 'sealed'. */
  visibility?: 'sealed' | 'public';
  /** This entry publishes the identity keys of that device (indexed for bundle inclusion proofs). */
  keyEntry?: { userId: string; deviceId: string };
}

export interface SecurityAuditModuleOptions {
  logId: Uint8Array;
  /** A_0 for a log that does not exist yet; read only then. */
  initialKey: () => Uint8Array;
  now?: () => number;
  /** Entries per durable transaction at most (default 4096). */
  maxBatch?: number;
  /** Events waiting for a transaction at most; more are refused (default 65 536). */
  maxPending?: number;
  /** Seals the writer state (it holds A_j) before it is stored; default: stored as it is. */
  stateCipher?: WriterStateCipher;
}

/** Bound on one event's JSON, so no caller can make an entry (and every proof over it) huge. */
export const MAX_AUDIT_EVENT_BYTES = 4096;

const utf8 = new TextEncoder();

interface Pending {
  mask: number;
  plaintext: Uint8Array;
  visibility: 'sealed' | 'public';
  keyEntry?: { userId: string; deviceId: string };
  resolve(index: number): void;
  reject(error: unknown): void;
}

export class SecurityAuditModule {
  private writer: LogWriter;
  private tree: MerkleTree;
  private readonly nodes: MemoryMerkleStore;
  private queue: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private closed = false;
  /** Set when the store could not be re-read after a failed transaction: the SAM stops. */
  private failure: string | undefined;
  private readonly now: () => number;
  private readonly maxBatch: number;
  private readonly maxPending: number;
  /** Entries durably stored; the tree can be ahead of it while a transaction is in flight. */
  private storedSize: number;
  private readonly cipher: WriterStateCipher;

  private constructor(
    private readonly store: AuditStore,
    writer: LogWriter,
    nodes: MemoryMerkleStore,
    size: number,
    options: SecurityAuditModuleOptions,
  ) {
    this.writer = writer;
    this.nodes = nodes;
    this.tree = MerkleTree.open(nodes, size);
    this.storedSize = size;
    this.now = options.now ?? Date.now;
    this.maxBatch = options.maxBatch ?? 4096;
    this.maxPending = options.maxPending ?? 65_536;
    this.cipher = options.stateCipher ?? BARE_STATE;
  }

  /** Opens the stored log, creating it with options.initialKey() if there is none. */
  static async open(store: AuditStore, options: SecurityAuditModuleOptions): Promise<SecurityAuditModule> {
    const cipher = options.stateCipher ?? BARE_STATE;
    let snapshot = await store.load();
    if (snapshot.writerState === undefined) {
      const key = options.initialKey();
      const fresh = LogWriter.create({ logId: options.logId, initialKey: key });
      key.fill(0);
      const state = fresh.exportState();
      await store.create(cipher.seal(state));
      state.fill(0);
      fresh.dispose();
      snapshot = await store.load();
    }
    if (snapshot.writerState === undefined) throw new AuditStateError('the audit store did not keep the new log');
    const opened = cipher.open(snapshot.writerState);
    snapshot.writerState.fill(0);
    const writer = LogWriter.restore(opened);
    opened.fill(0);
    if (writer.nextIndex !== snapshot.size) {
      writer.dispose();
      throw new AuditStateError(`the stored writer state is at entry ${writer.nextIndex} but the log has ${snapshot.size} entries`);
    }
    if (!hashesEqual(writer.logId, options.logId)) {
      writer.dispose();
      throw new AuditStateError('the stored log has a different log id');
    }
    const nodes = new MemoryMerkleStore();
    nodes.put(snapshot.nodes);
    return new SecurityAuditModule(store, writer, nodes, snapshot.size, { ...options, stateCipher: cipher });
  }

  /** Entries durably stored (the tree size a checkpoint may cover). */
  get size(): number {
    return this.storedSize;
  }

  /** The Merkle tree over the stored entries, for roots and proofs at sizes up to {@link size}. */
  get merkleTree(): MerkleTree {
    return this.tree;
  }

  /** Records one event; resolves with its index once it is durable. */
  record(input: AuditEvent): Promise<number> {
    if (this.closed) return Promise.reject(new AuditStateError(this.failure ?? 'the audit log is closed'));
    // Checked here, not in the batch: one bad event must not fail the events it would share a transaction with.
    try {
      requireEntryMask(input.mask);
    } catch (error) {
      return Promise.reject(error);
    }
    const plaintext = utf8.encode(JSON.stringify(input.event));
    if (plaintext.length > MAX_AUDIT_EVENT_BYTES) return Promise.reject(new AuditFormatError(`an audit event is at most ${MAX_AUDIT_EVENT_BYTES} bytes of JSON`));
    if (this.queue.length >= this.maxPending) return Promise.reject(new AuditStateError('too many audit events waiting to be stored'));
    return new Promise<number>((resolve, reject) => {
      this.queue.push({ mask: input.mask, plaintext, visibility: input.visibility ?? 'sealed', keyEntry: input.keyEntry, resolve, reject });
      this.flushing ??= this.flushLoop();
    });
  }

  /** Waits for every recorded event to be stored, then refuses new ones and zeroes the key. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.flushing) await this.flushing;
    this.writer.dispose();
  }

  private async flushLoop(): Promise<void> {
    // Yield once so the events of requests running concurrently join this transaction.
    await new Promise<void>((resolve) => setImmediate(resolve));
    try {
      while (this.queue.length > 0) await this.flushBatch(this.queue.splice(0, this.maxBatch));
    } finally {
      this.flushing = undefined;
    }
  }

  private async flushBatch(batch: Pending[]): Promise<void> {
    const entries: { index: number; bytes: Uint8Array }[] = [];
    const nodes: StoredMerkleNode[] = [];
    const keyEntries: KeyEntryRef[] = [];
    let writerState: Uint8Array | undefined;
    try {
      for (const item of batch) {
        const now = Math.max(this.now(), this.writer.lastTime);
        const result = item.visibility === 'public' ? this.writer.appendPublic(item.mask, item.plaintext, now) : this.writer.append(item.mask, item.plaintext, now);
        entries.push({ index: result.entry.index, bytes: result.encodedEntry });
        nodes.push(...this.tree.append(result.leafHash));
        if (item.keyEntry) keyEntries.push({ ...item.keyEntry, index: result.entry.index });
        writerState = result.nextState;
      }
      if (writerState === undefined) return;
      await this.store.append({ entries, nodes, writerState: this.cipher.seal(writerState), keyEntries });
    } catch (error) {
      for (const item of batch) item.reject(error);
      try {
        await this.reload();
      } catch {
        // Without the stored state the SAM cannot know which key comes next: refuse every event
        // rather than risk a reused key or a gap. A restart reopens the log from the store.
        this.failure = 'the audit log could not be reloaded after a failed write: restart the server';
        this.closed = true;
        for (const item of this.queue.splice(0)) item.reject(new AuditStateError(this.failure));
      }
      return;
    }
    this.writer.commit();
    this.nodes.put(nodes);
    this.storedSize = this.tree.size;
    for (const [i, item] of batch.entries()) item.resolve(entries[i]?.index ?? -1);
  }

  /** After a failed transaction: back to exactly what is stored. */
  private async reload(): Promise<void> {
    this.writer.rollback();
    const snapshot = await this.store.load();
    if (snapshot.writerState === undefined) throw new AuditStateError('the audit log disappeared from the store');
    const opened = this.cipher.open(snapshot.writerState);
    snapshot.writerState.fill(0);
    this.writer = LogWriter.restore(opened);
    opened.fill(0);
    this.tree = MerkleTree.open(this.nodes, snapshot.size);
    this.storedSize = snapshot.size;
  }
}
