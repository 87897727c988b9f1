/**
 * The SAM's log writer: seals events into forward-secure entries (Schneier–Kelsey, DESIGN.md §6).
 *
 * For entry j with mask W_j at time t_j, from the current evolving key A_j and chain value Y_{j-1}:
 *
 *   AD_j   = (logId, j, t_j, W_j, Y_{j-1})
 *   nonce  = HMAC(N_j, AD_j ‖ plaintext)[:12]
 *   C_j    = AES-256-GCM(K_j, nonce, plaintext, AD_j)
 *   Y_j    = H(Y_{j-1} ‖ j ‖ t_j ‖ W_j ‖ nonce ‖ C_j)
 *   Z_j    = HMAC(M_j, Y_j)
 *   then A_{j+1} replaces A_j, and A_j, K_j, M_j, N_j are zeroed
 *
 * Atomicity. `append` returns the entry and the writer's next state as one value; the caller
 * writes both in one transaction. Because the state that is persisted always sits exactly after
 * the last persisted entry, a crash can neither leave a gap (an index whose entry was lost) nor
 * bring back a key that already sealed an entry. The writer itself keeps no old key: a failed
 * transaction is handled by `rollback()` and reopening from the stored state.
 *
 * Why a synthetic nonce: K_j is used once, so any fixed nonce would do — unless a buggy caller
 * restores an old state and seals a different event under the same j. The nonce derived from
 * the entry's content makes that case harmless (distinct nonces under one key) and a replay of
 * the same event byte-identical.
 */
import { lengthPrefixed, wipe } from '../crypto/bytes.js';
import { requireEntryMask } from './categories.js';
import {
  type AuditEntry,
  CHAIN_HASH_BYTES,
  type EntryVisibility,
  encodeEntry,
  ENTRY_NONCE_BYTES,
  entryAssociatedData,
  genesisChainHash,
  isEntryInteger,
  MAX_ENTRY_INTEGER,
  MAX_ENTRY_PLAINTEXT_BYTES,
  MAX_LOG_ID_BYTES,
  nextChainHash,
  requireLogId,
  u64,
} from './entry-format.js';
import { AuditFormatError, AuditStateError } from '../errors.js';
import { AUDIT_KEY_BYTES, auditPrimitives, entryKey, evolveKey, macKey, nonceKey, requireEvolvingKey } from './key-schedule.js';
import { leafHash } from './merkle.js';

export const WRITER_STATE_VERSION = 1;

/** What one append produces: persist `encodedEntry` (and its Merkle nodes) and `nextState` together. */
export interface AppendResult {
  readonly entry: AuditEntry;
  /** The entry's canonical bytes: the stored record and the Merkle leaf data. */
  readonly encodedEntry: Uint8Array;
  /** SHA-256(0x00 ‖ encodedEntry), to append to the Merkle tree. */
  readonly leafHash: Uint8Array;
  /**
   * The writer state after this entry. Secret (it holds A_{j+1}): store it sealed, replacing the
   * previous state, in the same transaction as the entry. Zeroed by commit() and rollback().
   */
  readonly nextState: Uint8Array;
}

/** Options of {@link LogWriter.create}. */
export interface LogWriterOptions {
  /** Names the log in every derivation and AD; the UTF-8 checkpoint origin is a good choice. */
  readonly logId: Uint8Array;
  /** A_0, 32 random bytes. Copied; hand it to the TLM, then erase it. */
  readonly initialKey: Uint8Array;
}

interface WriterState {
  logId: Uint8Array;
  nextIndex: number;
  lastTime: number;
  evolvingKey: Uint8Array;
  chainHash: Uint8Array;
}

type Status = 'ready' | 'failed' | 'disposed';

/** The log writer state machine. One instance per log; not reentrant. */
export class LogWriter {
  private state: WriterState;
  private status: Status = 'ready';
  /** nextState buffers handed out since the last commit/rollback, zeroed there. */
  private handedOut: Uint8Array[] = [];

  private constructor(state: WriterState) {
    this.state = state;
  }

  /** A new, empty log at index 0. */
  static create(options: LogWriterOptions): LogWriter {
    const logId = requireLogId(options.logId).slice();
    return new LogWriter({
      logId,
      nextIndex: 0,
      lastTime: 0,
      evolvingKey: requireEvolvingKey(options.initialKey, 'initial key').slice(),
      chainHash: genesisChainHash(logId),
    });
  }

  /** Reopens a writer from its persisted state (the `nextState` of the last committed append). */
  static restore(stateBytes: Uint8Array): LogWriter {
    return new LogWriter(decodeWriterState(stateBytes));
  }

  /** Index j the next entry will get (= number of entries written). */
  get nextIndex(): number {
    return this.state.nextIndex;
  }

  /** Y_{j-1}: the chain value the next entry links to (public). */
  get chainHash(): Uint8Array {
    return this.state.chainHash.slice();
  }

  /** Time of the last entry (0 before the first); the next entry's time is never below it. */
  get lastTime(): number {
    return this.state.lastTime;
  }

  get logId(): Uint8Array {
    return this.state.logId.slice();
  }

  /** Appends since the last commit() or rollback(). */
  get pendingAppends(): number {
    return this.handedOut.length;
  }

  /**
   * The current state, encoded (secret: holds A_j). Persist it once when the log is created; after
   * that every append returns the state to persist.
   */
  exportState(): Uint8Array {
    this.requireReady();
    return encodeWriterState(this.state);
  }

  /**
   * Seals one event. `now` is the caller's clock in ms since the epoch; if it went backwards the
   * entry keeps the previous entry's time (the log's times never decrease, so the verifier can
   * check heartbeat gaps). Appends may be batched: persist every entry of the batch and the last
   * `nextState`, then commit().
   */
  append(categoryMask: number, plaintext: Uint8Array, now: number): AppendResult {
    return this.write(categoryMask, plaintext, now, 'sealed');
  }

  /**
   * Writes one event IN THE CLEAR (a public entry, format version 2): for events whose content is
   * public anyway — key publications that clients check against the log (key transparency) and
   * heartbeats. Chained, MACed and key-evolving exactly like {@link append}.
   */
  appendPublic(categoryMask: number, event: Uint8Array, now: number): AppendResult {
    return this.write(categoryMask, event, now, 'public');
  }

  private write(categoryMask: number, plaintext: Uint8Array, now: number, visibility: EntryVisibility): AppendResult {
    this.requireReady();
    requireEntryMask(categoryMask);
    if (!(plaintext instanceof Uint8Array) || plaintext.length > MAX_ENTRY_PLAINTEXT_BYTES) {
      throw new AuditFormatError(`entry plaintext must be a Uint8Array of at most ${MAX_ENTRY_PLAINTEXT_BYTES} bytes`);
    }
    if (!isEntryInteger(now)) throw new AuditFormatError('now must be an integer number of milliseconds in [0, 2^53)');
    const { logId, nextIndex: index, evolvingKey, chainHash: previous } = this.state;
    if (index >= MAX_ENTRY_INTEGER) throw new AuditStateError('the log has reached its largest index');
    const time = Math.max(now, this.state.lastTime);

    const m = macKey(logId, evolvingKey, index);
    const secrets: Uint8Array[] = [m];
    let next: Uint8Array | undefined;
    try {
      let nonce: Uint8Array;
      let ciphertext: Uint8Array;
      if (visibility === 'public') {
        nonce = new Uint8Array(ENTRY_NONCE_BYTES);
        ciphertext = plaintext.slice();
      } else {
        const ad = entryAssociatedData(logId, index, time, categoryMask, previous);
        const k = entryKey(logId, evolvingKey, index, categoryMask);
        const n = nonceKey(logId, evolvingKey, index);
        secrets.push(k, n);
        nonce = auditPrimitives.hmac(n, lengthPrefixed(ad, plaintext)).slice(0, ENTRY_NONCE_BYTES);
        ciphertext = auditPrimitives.aead.encrypt(k, nonce, plaintext, ad);
      }
      const kind = visibility === 'public' ? { visibility } : {};
      const chainHash = nextChainHash(previous, { index, time, categoryMask, nonce, ciphertext, ...kind });
      const entry: AuditEntry = { index, time, categoryMask, nonce, ciphertext, chainHash, mac: auditPrimitives.hmac(m, chainHash), ...kind };
      const encodedEntry = encodeEntry(entry);
      next = evolveKey(logId, evolvingKey);
      const nextState: WriterState = { logId, nextIndex: index + 1, lastTime: time, evolvingKey: next, chainHash };
      const nextStateBytes = encodeWriterState(nextState);
      // Nothing below can throw: the in-memory writer moves on only with a complete result.
      wipe(evolvingKey);
      this.state = nextState;
      this.handedOut.push(nextStateBytes);
      next = undefined;
      return { entry, encodedEntry, leafHash: leafHash(encodedEntry), nextState: nextStateBytes };
    } finally {
      wipe(...secrets);
      if (next) wipe(next);
    }
  }

  /** The caller's transaction with every pending entry and the last nextState committed. */
  commit(): void {
    this.requireReady();
    // A loop, not wipe(...): a spread of a long uncommitted run would overflow the call stack.
    for (const state of this.handedOut) state.fill(0);
    this.handedOut = [];
  }

  /**
   * The caller's transaction failed: nothing pending was stored. The writer cannot go back (it no
   * longer has the old key, by design), so it zeroes itself and refuses further appends; reopen
   * with LogWriter.restore(the state that is stored).
   */
  rollback(): void {
    if (this.status === 'disposed') return;
    this.wipeAll();
    this.status = 'failed';
  }

  /** Zeroes the writer's key and every handed-out state. */
  dispose(): void {
    this.wipeAll();
    this.status = 'disposed';
  }

  private wipeAll(): void {
    wipe(this.state.evolvingKey);
    for (const state of this.handedOut) state.fill(0);
    this.handedOut = [];
  }

  private requireReady(): void {
    if (this.status === 'failed') throw new AuditStateError('an append was rolled back: restore the writer from the stored state');
    if (this.status === 'disposed') throw new AuditStateError('the log writer was disposed');
  }
}

const STATE_FIXED_BYTES = 1 + 1 + 8 + 8 + AUDIT_KEY_BYTES + CHAIN_HASH_BYTES;

/** version 1 ‖ logIdLen u8 ‖ logId ‖ nextIndex u64 ‖ lastTime u64 ‖ A_j[32] ‖ Y_{j-1}[32]. */
function encodeWriterState(state: WriterState): Uint8Array {
  const { logId } = state;
  const out = new Uint8Array(STATE_FIXED_BYTES + logId.length);
  out[0] = WRITER_STATE_VERSION;
  out[1] = logId.length;
  let offset = 2;
  for (const part of [logId, u64(state.nextIndex), u64(state.lastTime), state.evolvingKey, state.chainHash]) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function decodeWriterState(bytes: Uint8Array): WriterState {
  if (!(bytes instanceof Uint8Array) || bytes.length < STATE_FIXED_BYTES + 1 || bytes.length > STATE_FIXED_BYTES + MAX_LOG_ID_BYTES) {
    throw new AuditFormatError('writer state has an invalid length');
  }
  if (bytes[0] !== WRITER_STATE_VERSION) throw new AuditFormatError(`unknown writer state version ${bytes[0]}`);
  const idLength = bytes[1] as number;
  if (bytes.length !== STATE_FIXED_BYTES + idLength) throw new AuditFormatError('writer state length does not match its log id length');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 2 + idLength;
  const readInteger = (what: string): number => {
    const high = view.getUint32(offset);
    const value = high * 2 ** 32 + view.getUint32(offset + 4);
    offset += 8;
    if (high >= 2 ** 21) throw new AuditFormatError(`writer state ${what} exceeds 2^53 − 1`);
    return value;
  };
  const logId = requireLogId(bytes.slice(2, 2 + idLength));
  const nextIndex = readInteger('index');
  const lastTime = readInteger('time');
  const evolvingKey = bytes.slice(offset, offset + AUDIT_KEY_BYTES);
  const chainHash = bytes.slice(offset + AUDIT_KEY_BYTES, offset + AUDIT_KEY_BYTES + CHAIN_HASH_BYTES);
  return { logId, nextIndex, lastTime, evolvingKey, chainHash };
}
