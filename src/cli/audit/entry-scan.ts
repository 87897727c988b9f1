/**
 * Reading every entry of a checkpointed log, [0, size), in pages, and checking each one as it
 * arrives: strict decoding, index and time order, the hash chain (verifyEntries), decryption with
 * the keys the TLM releases to this verifier, and the Merkle tree rebuilt from the bytes served —
 * whose root must be the checkpoint's, which proves every entry is the one the TLM signed at its
 * index. Memory stays bounded by one page plus 64 bytes of tree per entry.
 */
import { AuditCategory, categoryNames } from '../../audit/categories.js';
import { type AuditEntry, decodeEntry, isPublicEntry } from '../../audit/entry-format.js';
import { verifyEntries } from '../../audit/entry-verifier.js';
import { unwrapEntryKey, type WrappedEntryKey } from '../../audit/key-release.js';
import type { EntryKeys } from '../../audit/key-schedule.js';
import { MemoryMerkleStore, MerkleTree } from '../../audit/merkle-tree.js';
import { hashesEqual, leafHash } from '../../audit/merkle.js';
import { wipe } from '../../crypto/bytes.js';
import { type AuditServiceClient, callAudit, MAX_AUDIT_PAGE } from './audit-client.js';
import { firstDivergentLeaf } from './first-divergence.js';
import { releaseEntryKeys } from './key-release-client.js';
import { errorText } from './printable.js';
import type { AuditFailure } from './report.js';
import type { TreeHead } from './consistency.js';

/** What the scan needs. */
export interface EntryScanOptions {
  readonly client: AuditServiceClient;
  readonly logId: Uint8Array;
  /** The verified checkpoint: the scan reads exactly its `size` entries. */
  readonly checkpoint: TreeHead;
  readonly verifierId: string;
  /** The verifier's ML-KEM-1024 secret key (not zeroed here). */
  readonly kemSecretKey: Uint8Array;
  /** Entries per GetEntries call (1 to 1000). */
  readonly pageSize: number;
  readonly fail: (failure: AuditFailure) => void;
}

/** What the scan found. */
export interface EntryScanResult {
  readonly read: number;
  readonly publicCount: number;
  readonly sealedCount: number;
  readonly decrypted: number;
  readonly denied: number;
  readonly categories: Record<string, number>;
  readonly newestHeartbeat?: { readonly index: number; readonly time: number };
  /** Whether the entries' tree has the checkpoint's root (so every entry is included at its index). */
  readonly rootMatches: boolean;
}

/** Reads and checks entries [0, checkpoint.size); every problem goes to `fail`. */
export async function scanEntries(options: EntryScanOptions): Promise<EntryScanResult> {
  const { client, logId, checkpoint, fail } = options;
  const pageSize = Math.max(1, Math.min(MAX_AUDIT_PAGE, Math.floor(options.pageSize)));
  const nodes = new MemoryMerkleStore();
  const tree = MerkleTree.open(nodes, 0);
  const categories: Record<string, number> = {};
  let publicCount = 0;
  let sealedCount = 0;
  let decrypted = 0;
  let denied = 0;
  let newestHeartbeat: { index: number; time: number } | undefined;
  // Chain state carried from entry to entry: the index and Y_j the next entry must follow.
  let expected = 0;
  let previousChainHash: Uint8Array | undefined;
  let chainBroken = false;
  let lastTime = 0;

  for (let start = 0; start < checkpoint.size; start += pageSize) {
    const count = Math.min(pageSize, checkpoint.size - start);
    let served: Uint8Array[];
    try {
      served = (await callAudit('GetEntries', () => client.getEntries({ start: BigInt(start), count }))).entries;
    } catch (error) {
      fail({ check: 'entries', index: start, reason: 'unavailable', message: `entries from ${start} could not be read: ${errorText(error)}` });
      break;
    }
    if (served.length > count) {
      fail({ check: 'entries', index: start, reason: 'page', message: `asked for ${count} entries from ${start}, got ${served.length}` });
      served = served.slice(0, count);
    }
    const page: (AuditEntry | undefined)[] = served.map((bytes, offset) => {
      try {
        return decodeEntry(bytes);
      } catch (error) {
        fail({ check: 'entries', index: start + offset, reason: 'format', message: `entry ${start + offset} does not decode: ${errorText(error)}` });
        return undefined;
      }
    });
    const keys = await keysForPage(options, page, start, fail);
    denied += keys.denied;

    page.forEach((entry, offset) => {
      const position = start + offset;
      const nodesOf = tree.append(leafHash(served[offset] as Uint8Array));
      nodes.put(nodesOf);
      if (!entry) {
        chainBroken = true;
        expected = position + 1;
        return;
      }
      const report = verifyEntries({
        logId,
        entries: [entry],
        startIndex: expected,
        // After an undecodable entry Y_{j-1} is unknown: a placeholder, whose chain failure is dropped below.
        ...(previousChainHash || expected !== 0 ? { previousChainHash: previousChainHash ?? new Uint8Array(32) } : {}),
        // Its AD holds that unknown Y_{j-1} too, so it could not decrypt: no key is opened for it.
        keys: (index, mask) => (chainBroken ? undefined : openKey(options, keys.wrapped.get(index), index, mask, fail)),
      });
      for (const failure of report.failures) {
        // Right after an undecodable entry the previous Y_j is unknown; that was reported already.
        if (chainBroken && failure.reason === 'chain') continue;
        fail({ check: 'entries', index: failure.index, reason: failure.reason, message: failure.message });
      }
      if (entry.time < lastTime) fail({ check: 'entries', index: entry.index, reason: 'time', message: `entry ${entry.index} is dated before the entry preceding it` });
      for (const opened of report.decrypted) {
        if (opened.visibility !== 'public') decrypted++;
        wipe(opened.plaintext);
      }
      chainBroken = false;
      previousChainHash = entry.chainHash;
      lastTime = Math.max(lastTime, entry.time);
      // Follow the stored index (one deletion is then reported once), unless it points outside
      // the checkpoint: then follow the position, so a forged index cannot derail the rest.
      expected = entry.index < checkpoint.size ? entry.index + 1 : position + 1;
      if (isPublicEntry(entry)) publicCount++;
      else sealedCount++;
      for (const name of categoryNames(entry.categoryMask)) categories[name] = (categories[name] ?? 0) + 1;
      if ((entry.categoryMask & AuditCategory.HEARTBEAT) !== 0 && (!newestHeartbeat || entry.time >= newestHeartbeat.time))
        newestHeartbeat = { index: entry.index, time: entry.time };
    });
    if (served.length < count) {
      fail({ check: 'entries', index: start + served.length, reason: 'missing', message: `the server returned ${served.length} of the ${count} entries from ${start}` });
      // An empty page means the log ends here; a checkpoint of 2^53 entries must not keep us reading.
      if (served.length === 0) break;
    }
  }

  const rootMatches = tree.size === checkpoint.size && hashesEqual(tree.root(), checkpoint.rootHash);
  if (!rootMatches) await reportDivergence(client, tree, checkpoint, fail);
  return { read: tree.size, publicCount, sealedCount, decrypted, denied, categories, rootMatches, ...(newestHeartbeat ? { newestHeartbeat } : {}) };
}

/**
 * Fetches the keys of a page's sealed entries that sit at their own index. Every sealed entry is
 * asked for, also those the key file's entitlement does not cover: the TLM decides, and a refusal
 * it lists is counted as denied (unread), not as a failure.
 */
async function keysForPage(
  options: EntryScanOptions,
  page: readonly (AuditEntry | undefined)[],
  start: number,
  fail: (failure: AuditFailure) => void,
): Promise<{ wrapped: ReadonlyMap<number, WrappedEntryKey>; denied: number }> {
  const wanted = page.filter((entry, offset): entry is AuditEntry => entry !== undefined && !isPublicEntry(entry) && entry.index === start + offset);
  if (wanted.length === 0) return { wrapped: new Map(), denied: 0 };
  try {
    const released = await releaseEntryKeys(
      options.client,
      options.verifierId,
      wanted.map((entry) => entry.index),
    );
    for (const index of released.withheld) fail({ check: 'keys', index, reason: 'withheld', message: `the TLM neither released nor refused the key of entry ${index}` });
    return { wrapped: released.wrapped, denied: released.denied.size };
  } catch (error) {
    fail({ check: 'keys', index: start, reason: 'unavailable', message: `keys of entries from ${start} could not be obtained: ${errorText(error)}` });
    return { wrapped: new Map(), denied: 0 };
  }
}

/** Opens one released key for the entry as stored (index, mask); a key that does not open is a failure. */
function openKey(options: EntryScanOptions, wrapped: WrappedEntryKey | undefined, index: number, mask: number, fail: (failure: AuditFailure) => void): EntryKeys | undefined {
  if (!wrapped) return undefined;
  try {
    return { entryKey: unwrapEntryKey(options.kemSecretKey, options.logId, index, mask, wrapped) };
  } catch (error) {
    fail({ check: 'keys', index, reason: 'unwrap', message: `the released key of entry ${index} does not open: ${errorText(error)}` });
    return undefined;
  }
}

/** Reports where the served entries leave the signed tree (or that only the tail is missing). */
async function reportDivergence(client: AuditServiceClient, tree: MerkleTree, checkpoint: TreeHead, fail: (failure: AuditFailure) => void): Promise<void> {
  const index = await firstDivergentLeaf(client, tree, checkpoint);
  if (index >= tree.size) {
    fail({ check: 'entries', index, reason: 'truncated', message: `the server served ${tree.size} entries; the checkpoint covers ${checkpoint.size}` });
  } else {
    fail({ check: 'entries', index, reason: 'root', message: `entry ${index} is not the entry the checkpoint's tree holds at that index` });
  }
}
