/**
 * Verifying a run of audit entries: what a verifier (or the TLM re-checking its own log) can
 * establish, in increasing order of what it holds.
 *
 *  - Nothing secret: indexes are contiguous, times never decrease, and every Y_j is the hash of
 *    Y_{j-1} and the entry's public fields — so a changed, inserted or deleted entry is reported
 *    at its index. A consistent rewrite of the whole tail is not caught by this alone (anyone can
 *    recompute a hash chain); that is what the signed checkpoint is for.
 *  - A checkpoint (size, root) that the caller verified: the entries reproduce its Merkle root,
 *    and a log shorter than the checkpoint is reported as truncated.
 *  - A heartbeat policy: no gap between heartbeats (or since the last one, up to `now`) exceeds
 *    the interval, which exposes a tail cut off before any checkpoint covered it.
 *  - Entry keys (from the TLM): Z_j checks under M_j, and the entry decrypts under K_j with its AD.
 *
 * It reports every failure rather than stopping at the first, so a report names each index hit.
 */
import { wipe } from '../crypto/bytes.js';
import { AuditCategory, isCategoryMask } from './categories.js';
import {
  type AuditEntry,
  encodeEntry,
  entryAssociatedData,
  type EntryVisibility,
  genesisChainHash,
  isEntryInteger,
  isPublicEntry,
  nextChainHash,
  requireLogId,
} from './entry-format.js';
import { AuditFormatError } from '../errors.js';
import { auditPrimitives, type EntryKeys } from './key-schedule.js';
import { MemoryMerkleStore, MerkleTree } from './merkle-tree.js';
import { hashesEqual, leafHash } from './merkle.js';

/** Why an entry failed. */
export type EntryFailureReason =
  | 'index' // not the index that should come next: an entry was deleted, inserted or reordered
  | 'time' // earlier than the entry before it
  | 'chain' // Y_j is not the hash of Y_{j-1} and the entry's fields
  | 'mac' // Z_j does not verify under M_j
  | 'decrypt' // AES-GCM authentication failed under K_j and AD_j
  | 'truncated' // the log ends before the checkpoint's size
  | 'root' // the entries do not reproduce the checkpoint's root
  | 'heartbeat'; // more than the heartbeat interval without a heartbeat entry

export interface EntryFailure {
  /** Index where the failure shows: the entry's expected index (or the log's end for a tail). */
  readonly index: number;
  readonly reason: EntryFailureReason;
  readonly message: string;
}

/** An entry whose plaintext the verifier could open. */
export interface DecryptedEntry {
  readonly index: number;
  readonly time: number;
  readonly categoryMask: number;
  readonly plaintext: Uint8Array;
  /** Whether Z_j was checked too (a MAC key was supplied). */
  readonly macChecked: boolean;
  /** 'public' when the entry was stored in the clear (readable without a key). */
  readonly visibility?: EntryVisibility;
}

export interface VerifyEntriesOptions {
  readonly logId: Uint8Array;
  /** Consecutive entries as stored, in order, the first being entry `startIndex`. */
  readonly entries: readonly AuditEntry[];
  /** Index the first entry must have (default 0). Chosen by the verifier, never read from the data. */
  readonly startIndex?: number;
  /** Y_{startIndex-1}, e.g. from the last verified run. Needed unless starting at 0 (then: the genesis value). */
  readonly previousChainHash?: Uint8Array;
  /**
   * Keys of entries the verifier was given (undefined = none for that entry). The verifier zeroes
   * the returned arrays after use.
   */
  readonly keys?: (index: number, categoryMask: number) => EntryKeys | undefined;
  /** A verified checkpoint of this log. Needs the entries from index 0. */
  readonly checkpoint?: { readonly size: number; readonly rootHash: Uint8Array };
  /** Require a heartbeat entry at least every `intervalMs`, up to `now` (both in ms). */
  readonly heartbeat?: { readonly intervalMs: number; readonly now: number };
}

export interface VerifyEntriesReport {
  /** No failure of any kind. */
  readonly ok: boolean;
  readonly checked: number;
  readonly failures: readonly EntryFailure[];
  readonly decrypted: readonly DecryptedEntry[];
  /** Stored Y_j of the last entry checked (to continue from next time), or the starting value. */
  readonly lastChainHash: Uint8Array;
}

/** Checks `entries` as far as the options allow; see the file comment for what each option adds. */
export function verifyEntries(options: VerifyEntriesOptions): VerifyEntriesReport {
  const logId = requireLogId(options.logId);
  const { entries } = options;
  if (!Array.isArray(entries)) throw new AuditFormatError('entries must be an array');
  const first = options.startIndex ?? 0;
  if (!isEntryInteger(first)) throw new AuditFormatError('start index must be an integer in [0, 2^53)');
  if (options.previousChainHash === undefined && first !== 0) throw new AuditFormatError('starting after index 0 needs the previous chain hash');
  const failures: EntryFailure[] = [];
  const decrypted: DecryptedEntry[] = [];
  const fail = (index: number, reason: EntryFailureReason, message: string): void => {
    failures.push({ index, reason, message });
  };

  let previous = options.previousChainHash ?? genesisChainHash(logId);
  let previousTime = 0;
  let expected = first;
  for (const entry of entries) {
    const inPlace = entry.index === expected;
    if (!inPlace) fail(expected, 'index', `expected entry ${expected}, found entry ${entry.index}`);
    if (entry.time < previousTime) fail(entry.index, 'time', `entry ${entry.index} is dated before the entry preceding it`);
    if (!hashesEqual(nextChainHash(previous, entry), entry.chainHash)) {
      fail(entry.index, 'chain', `entry ${entry.index} does not hash to its chain value`);
    }
    // Keys are asked for only at the index the verifier expects: an index read from tampered
    // data (say 2^40) must not make the key source walk its chain that far.
    const opened = inPlace ? openEntry(logId, entry, previous, options.keys, fail) : undefined;
    if (opened) decrypted.push(opened);
    // Continue from the stored values, so one altered entry is reported once, at its own index.
    previous = entry.chainHash;
    previousTime = Math.max(previousTime, entry.time);
    expected = entry.index + 1;
  }

  if (options.checkpoint) checkAgainstCheckpoint(entries, first, options.checkpoint, fail);
  if (options.heartbeat) checkHeartbeats(entries, options.heartbeat, fail);
  return { ok: failures.length === 0, checked: entries.length, failures, decrypted, lastChainHash: previous.slice() };
}

function openEntry(
  logId: Uint8Array,
  entry: AuditEntry,
  previous: Uint8Array,
  keysFor: VerifyEntriesOptions['keys'],
  fail: (index: number, reason: EntryFailureReason, message: string) => void,
): DecryptedEntry | undefined {
  const keys = keysFor?.(entry.index, entry.categoryMask);
  if (isPublicEntry(entry)) return openPublicEntry(entry, keys, fail);
  if (!keys) return undefined;
  try {
    let macChecked = false;
    if (keys.macKey) {
      if (!hashesEqual(auditPrimitives.hmac(keys.macKey, entry.chainHash), entry.mac)) {
        fail(entry.index, 'mac', `entry ${entry.index} fails its MAC`);
        return undefined;
      }
      macChecked = true;
    }
    const ad = entryAssociatedData(logId, entry.index, entry.time, entry.categoryMask, previous);
    try {
      const plaintext = auditPrimitives.aead.decrypt(keys.entryKey, entry.nonce, entry.ciphertext, ad);
      return { index: entry.index, time: entry.time, categoryMask: entry.categoryMask, plaintext, macChecked };
    } catch {
      fail(entry.index, 'decrypt', `entry ${entry.index} does not decrypt under its key`);
      return undefined;
    }
  } finally {
    wipe(keys.entryKey, ...(keys.macKey ? [keys.macKey] : []));
  }
}

/** A public entry is readable by anyone; with a MAC key, Z_j is checked too. */
function openPublicEntry(entry: AuditEntry, keys: EntryKeys | undefined, fail: (index: number, reason: EntryFailureReason, message: string) => void): DecryptedEntry | undefined {
  try {
    if (keys?.macKey && !hashesEqual(auditPrimitives.hmac(keys.macKey, entry.chainHash), entry.mac)) {
      fail(entry.index, 'mac', `entry ${entry.index} fails its MAC`);
      return undefined;
    }
    return {
      index: entry.index,
      time: entry.time,
      categoryMask: entry.categoryMask,
      plaintext: entry.ciphertext.slice(),
      macChecked: keys?.macKey !== undefined,
      visibility: 'public',
    };
  } finally {
    if (keys) wipe(keys.entryKey, ...(keys.macKey ? [keys.macKey] : []));
  }
}

function checkAgainstCheckpoint(
  entries: readonly AuditEntry[],
  first: number,
  checkpoint: NonNullable<VerifyEntriesOptions['checkpoint']>,
  fail: (index: number, reason: EntryFailureReason, message: string) => void,
): void {
  if (first !== 0) throw new AuditFormatError('checking against a checkpoint needs the entries from index 0');
  if (entries.length < checkpoint.size) {
    fail(entries.length, 'truncated', `the log has ${entries.length} entries but a checkpoint covers ${checkpoint.size}`);
    return;
  }
  // Root over exactly the checkpoint's first `size` entries (later ones are newer than it).
  const tree = MerkleTree.open(new MemoryMerkleStore(), 0);
  for (let i = 0; i < checkpoint.size; i++) tree.append(leafHash(encodeEntry(entries[i] as AuditEntry)));
  if (!hashesEqual(tree.root(), checkpoint.rootHash)) {
    fail(checkpoint.size, 'root', `the first ${checkpoint.size} entries do not match the checkpoint's root`);
  }
}

function checkHeartbeats(
  entries: readonly AuditEntry[],
  policy: NonNullable<VerifyEntriesOptions['heartbeat']>,
  fail: (index: number, reason: EntryFailureReason, message: string) => void,
): void {
  const { intervalMs, now } = policy;
  if (!Number.isSafeInteger(intervalMs) || intervalMs <= 0 || !Number.isSafeInteger(now)) {
    throw new AuditFormatError('heartbeat interval and now must be integers (ms), the interval positive');
  }
  let lastBeat: number | undefined;
  for (const entry of entries) {
    if (!isCategoryMask(entry.categoryMask) || (entry.categoryMask & AuditCategory.HEARTBEAT) === 0) continue;
    if (lastBeat !== undefined && entry.time - lastBeat > intervalMs) {
      fail(entry.index, 'heartbeat', `${entry.time - lastBeat} ms without a heartbeat before entry ${entry.index}`);
    }
    lastBeat = entry.time;
  }
  const end = (entries.at(-1)?.index ?? -1) + 1;
  if (lastBeat === undefined) fail(end, 'heartbeat', 'no heartbeat entry at all');
  else if (now - lastBeat > intervalMs) fail(end, 'heartbeat', `${now - lastBeat} ms since the last heartbeat: the tail may be cut off`);
}
