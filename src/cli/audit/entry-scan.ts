/**
 * Reading every entry of a checkpointed log, [0, size), in pages, and checking each one as it
 * arrives: strict decoding, index and time order, the hash chain (verifyEntries), decryption with
 * the keys the TLM releases to this verifier, and the Merkle tree rebuilt from the bytes served —
 * whose root must be the checkpoint's, which proves every entry is the one the TLM signed at its
 * index. Memory stays bounded by one page plus 64 bytes of tree per entry.
 *
 * The server is the party under audit, and the TLM will sign any size up to 2^53 for a log it
 * was given. So the scan is bounded three ways, each ending it with a failure, never a hang: a
 * checkpoint above `maxEntries` is not read at all (that also bounds the tree in memory), the
 * whole run stops at `deadlineAt` (in-flight calls are aborted), and it stops after
 * MAX_FAILED_PAGES pages that were short, too long or undecodable (junk, or one entry a call).
 */
import type { CallOptions } from '@connectrpc/connect';
import { AuditCategory, categoryNames } from '../../audit/categories.js';
import { type AuditEntry, decodeEntry, isPublicEntry } from '../../audit/entry-format.js';
import { verifyEntries } from '../../audit/entry-verifier.js';
import { unwrapEntryKey, type WrappedEntryKey } from '../../audit/key-release.js';
import type { EntryKeys } from '../../audit/key-schedule.js';
import { MemoryMerkleStore, MerkleTree } from '../../audit/merkle-tree.js';
import { hashesEqual, leafHash } from '../../audit/merkle.js';
import { wipe } from '../../crypto/bytes.js';
import { ServerResponseError } from '../../errors.js';
import { ResponseCode } from '../../proto/gen/service_pb.js';
import { type AuditServiceClient, callAudit, MAX_AUDIT_PAGE } from './audit-client.js';
import type { TreeHead } from './consistency.js';
import { firstDivergentLeaf } from './first-divergence.js';
import { releaseEntryKeys } from './key-release-client.js';
import { errorText } from './printable.js';
import type { AuditFailure } from './report.js';

/** Pages that failed (short, too long, undecodable entries) after which the scan gives up. */
export const MAX_FAILED_PAGES = 3;

const MAX_TIMER_MS = 2 ** 31 - 1;

/** What the scan needs. */
export interface EntryScanOptions {
  readonly client: AuditServiceClient;
  readonly logId: Uint8Array;
  /** The verified checkpoint: the scan reads exactly its `size` entries. */
  readonly checkpoint: TreeHead;
  readonly verifierId: string;
  /** The verifier's ML-KEM-1024 secret key (not zeroed here). */
  readonly kemSecretKey: Uint8Array;
  /** The verifier's access token, shown with every ReleaseKeys (not zeroed here). */
  readonly accessToken: Uint8Array;
  /** Entries per GetEntries call (1 to 1000). */
  readonly pageSize: number;
  /** A checkpoint of more entries is refused unread. */
  readonly maxEntries: number;
  /** When the scan must have ended, in ms of `now`. */
  readonly deadlineAt: number;
  readonly now: () => number;
  readonly fail: (failure: AuditFailure) => void;
}

/** Why a scan ended before it had read and compared every entry. */
export type ScanStopReason = 'too-large' | 'deadline' | 'failed-pages' | 'unavailable';

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
  /** Set when the scan gave up: what it found says nothing about the entries it did not read. */
  readonly stopped?: ScanStopReason;
}

/** Mutable per-scan state shared with the key fetching. */
interface ScanContext {
  readonly options: EntryScanOptions;
  readonly callOptions: CallOptions;
  /** Set once the TLM refused the access token: asking again for every page would only repeat it. */
  keysRefused: boolean;
}

/** Reads and checks entries [0, checkpoint.size); every problem goes to `fail`. */
export async function scanEntries(options: EntryScanOptions): Promise<EntryScanResult> {
  const { client, logId, checkpoint, fail, now, deadlineAt } = options;
  const nodes = new MemoryMerkleStore();
  const tree = MerkleTree.open(nodes, 0);
  const categories: Record<string, number> = {};
  let publicCount = 0;
  let sealedCount = 0;
  let decrypted = 0;
  let denied = 0;
  let newestHeartbeat: { index: number; time: number } | undefined;
  const result = (stopped?: ScanStopReason, rootMatches = false): EntryScanResult => ({
    read: tree.size,
    publicCount,
    sealedCount,
    decrypted,
    denied,
    categories,
    rootMatches,
    ...(newestHeartbeat ? { newestHeartbeat } : {}),
    ...(stopped ? { stopped } : {}),
  });

  // Refused before anything is read: the size is signed, but nothing bounds what the TLM signs.
  if (checkpoint.size > options.maxEntries) {
    fail({
      check: 'entries',
      reason: 'too-large',
      message: `the checkpoint covers ${checkpoint.size} entries, more than the ${options.maxEntries} this run may read (--max-entries): nothing was read`,
    });
    return result('too-large');
  }
  const pageSize = Math.max(1, Math.min(MAX_AUDIT_PAGE, Math.floor(options.pageSize)));
  // One signal for every call of the scan: a call still waiting at the deadline is aborted. (A
  // timer cannot wait beyond 2^31 − 1 ms; a later deadline is still checked before every page.)
  const signal = AbortSignal.timeout(Math.min(MAX_TIMER_MS, Math.max(1, deadlineAt - now())));
  const context: ScanContext = { options, callOptions: { signal }, keysRefused: false };
  const pastDeadline = (): boolean => signal.aborted || now() >= deadlineAt;
  const failDeadline = (index: number): void =>
    fail({
      check: 'entries',
      index,
      reason: 'deadline',
      message: `the deadline passed after ${tree.size} of ${checkpoint.size} entries (--deadline-seconds): the rest was not read`,
    });

  // Chain state carried from entry to entry: the index and Y_j the next entry must follow.
  let expected = 0;
  let previousChainHash: Uint8Array | undefined;
  let chainBroken = false;
  let lastTime = 0;
  let failedPages = 0;
  // Where the last short page ended: an empty page right there is the same gap, reported once.
  let shortEndedAt = -1;
  let stopped: ScanStopReason | undefined;

  // `start` advances by what was served, so the tree's leaf j stays the entry asked for at j.
  for (let start = 0; start < checkpoint.size; ) {
    if (pastDeadline()) {
      failDeadline(start);
      stopped = 'deadline';
      break;
    }
    const count = Math.min(pageSize, checkpoint.size - start);
    let served: Uint8Array[];
    try {
      served = (await callAudit('GetEntries', () => client.getEntries({ start: BigInt(start), count }, context.callOptions))).entries;
    } catch (error) {
      if (pastDeadline()) {
        failDeadline(start);
        stopped = 'deadline';
      } else {
        fail({ check: 'entries', index: start, reason: 'unavailable', message: `entries from ${start} could not be read: ${errorText(error)}` });
        stopped = 'unavailable';
      }
      break;
    }
    let pageFailed = served.length !== count;
    if (served.length > count) {
      fail({ check: 'entries', index: start, reason: 'page', message: `asked for ${count} entries from ${start}, got ${served.length}` });
      served = served.slice(0, count);
    }
    if (served.length < count && (served.length > 0 || start !== shortEndedAt)) {
      fail({ check: 'entries', index: start + served.length, reason: 'missing', message: `the server returned ${served.length} of the ${count} entries from ${start}` });
    }
    const page: (AuditEntry | undefined)[] = served.map((bytes, offset) => {
      try {
        return decodeEntry(bytes);
      } catch (error) {
        pageFailed = true;
        fail({ check: 'entries', index: start + offset, reason: 'format', message: `entry ${start + offset} does not decode: ${errorText(error)}` });
        return undefined;
      }
    });
    const keys = await keysForPage(context, page, start);
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
    // An empty page means the log ends here (the root comparison below says so).
    if (served.length === 0) break;
    if (served.length < count) shortEndedAt = start + served.length;
    start += served.length;
    if (pageFailed && ++failedPages >= MAX_FAILED_PAGES && start < checkpoint.size) {
      fail({
        check: 'entries',
        index: start,
        reason: 'failed-pages',
        message: `stopped after ${MAX_FAILED_PAGES} pages that were short or did not decode: ${checkpoint.size - start} entries from ${start} not read`,
      });
      stopped = 'failed-pages';
      break;
    }
  }

  const rootMatches = tree.size === checkpoint.size && hashesEqual(tree.root(), checkpoint.rootHash);
  // Past the deadline every proof request fails at once, which would misplace the divergence.
  if (!rootMatches && stopped !== 'deadline') await reportDivergence(context, tree, fail);
  return result(stopped, rootMatches);
}

/**
 * Fetches the keys of a page's sealed entries that sit at their own index. Every sealed entry is
 * asked for, also those the key file's entitlement does not cover: the TLM decides, and a refusal
 * it lists is counted as denied (unread), not as a failure.
 */
async function keysForPage(
  context: ScanContext,
  page: readonly (AuditEntry | undefined)[],
  start: number,
): Promise<{ wrapped: ReadonlyMap<number, WrappedEntryKey>; denied: number }> {
  const { options } = context;
  const fail = options.fail;
  const wanted = page.filter((entry, offset): entry is AuditEntry => entry !== undefined && !isPublicEntry(entry) && entry.index === start + offset);
  if (wanted.length === 0 || context.keysRefused) return { wrapped: new Map(), denied: 0 };
  try {
    const released = await releaseEntryKeys(
      options.client,
      options,
      wanted.map((entry) => entry.index),
      context.callOptions,
    );
    for (const index of released.withheld) fail({ check: 'keys', index, reason: 'withheld', message: `the TLM neither released nor refused the key of entry ${index}` });
    return { wrapped: released.wrapped, denied: released.denied.size };
  } catch (error) {
    if (error instanceof ServerResponseError && error.responseCode === ResponseCode.UNAUTHORIZED) {
      // Reported once: the token will not be accepted for the next page either.
      context.keysRefused = true;
      fail({
        check: 'keys',
        index: start,
        reason: 'unauthorized',
        message: `the TLM does not accept this verifier's access token (${errorText(error)}); no sealed entry from ${start} on is decrypted. Register the verifier again if its key file is not the one registered`,
      });
    } else {
      fail({ check: 'keys', index: start, reason: 'unavailable', message: `keys of entries from ${start} could not be obtained: ${errorText(error)}` });
    }
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
async function reportDivergence(context: ScanContext, tree: MerkleTree, fail: (failure: AuditFailure) => void): Promise<void> {
  const { client, checkpoint } = context.options;
  const signal = context.callOptions.signal;
  let index: number;
  try {
    index = await firstDivergentLeaf(client, tree, checkpoint, signal);
  } catch (error) {
    if (!signal?.aborted) throw error;
    fail({ check: 'entries', reason: 'deadline', message: `the deadline passed while locating where the ${tree.size} entries read leave the checkpoint's tree` });
    return;
  }
  if (index >= tree.size) {
    fail({ check: 'entries', index, reason: 'truncated', message: `the server served ${tree.size} entries; the checkpoint covers ${checkpoint.size}` });
  } else {
    fail({ check: 'entries', index, reason: 'root', message: `entry ${index} is not the entry the checkpoint's tree holds at that index` });
  }
}
