/**
 * How held group messages (waiting for their epoch's bundle) are laid out, so that holding,
 * counting and purging never read a held message they do not take or drop:
 *   held        <group>/<seq>  the message (HeldGroupMessage)
 *   held-group/<group>  <seq>  empty: the group's messages, listed only to release them
 *   held-queue  <seq>          HeldIndexEntry: every held message in the order it was held (purge)
 *   held-tally  <group>        HeldTally of the group; meta "held": HeldTally of all groups
 *   held-unjoined <seq>        HeldIndexEntry: the messages of not-joined groups only, in the
 *                              order held (what eviction reads; at most about the not-joined pool)
 * <seq> comes from a sequence of its own (HeldTally.next_sequence), so the queue has no gaps but
 * those released messages leave; the purge walks it from head_sequence and skips each gap once.
 * A message is in held-unjoined exactly when its group's tally is `unjoined`.
 *
 * This file keeps the tallies and indexes (and rebuilds them from the messages); the operations on
 * held messages are in held.ts.
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import type { KeyValueTransaction } from '../../store/database.js';
import { HeldGroupMessageSchema, HeldIndexEntrySchema, HeldTallySchema, type HeldGroupMessage, type HeldIndexEntry, type HeldTally } from '../../proto/gen/client_pb.js';
import { getMessage, NS, sortable } from './keys.js';

/** Meta key of the all-groups HeldTally. */
const HELD_TALLY_KEY = 'held';

export function heldKey(groupId: string, sequence: bigint): string {
  return `${encodeURIComponent(groupId)}/${sortable(sequence)}`;
}

/** Namespace listing one group's held messages (so releasing them reads no other group's). */
export function heldGroupNamespace(groupId: string): string {
  return `held-group/${encodeURIComponent(groupId)}`;
}

/** Moves the group's held messages into or out of the all-not-joined-groups tally. */
export function reclassifyHeldGroup(all: HeldTally, group: HeldTally, unjoined: boolean): void {
  if (group.count > 0 && group.unjoined !== unjoined) {
    if (unjoined) {
      all.unjoinedCount += group.count;
      all.unjoinedBytes += group.bytes;
    } else {
      all.unjoinedCount = Math.max(0, all.unjoinedCount - group.count);
      all.unjoinedBytes = all.unjoinedBytes > group.bytes ? all.unjoinedBytes - group.bytes : 0n;
    }
  }
  group.unjoined = unjoined;
}

/** A bound on held group messages: how many, and how many bytes (as stored). */
export interface HeldBound {
  count: number;
  bytes: number;
}

/** The allowances of held group messages (the runtime's are in groups.ts, documented in docs/client.md). */
export interface HeldLimits {
  /** Per group this device is in (it has the group's session and waits for a later epoch's bundle). */
  group: HeldBound;
  /** Per group this device has not joined (no session of it yet: e.g. a stranger's new group). */
  unjoinedGroup: HeldBound;
  /** All not-joined groups together. */
  unjoined: HeldBound;
  /** All groups together. */
  total: HeldBound;
}

/** A held message dropped to make room for another group's (HeldRecords.hold). */
export interface HeldEviction {
  groupId: string;
  heldAt: bigint;
  bytes: bigint;
  /** Taken for the not-joined pool (true) or for the all-groups pool's fair share (false). */
  unjoined: boolean;
}

/** A held message, as listed for release. */
export interface HeldEntry {
  sequence: bigint;
  /** Its stored size (what the allowances count). */
  bytes: number;
  value: HeldGroupMessage;
}

/** The tallies and indexes of held messages in one transaction (see the layout above). */
export class HeldLayout {
  constructor(protected readonly tx: KeyValueTransaction) {}

  /** The all-groups tally; rebuilt when missing (a database written before tallies existed). */
  protected async heldTotals(): Promise<HeldTally> {
    const bytes = await this.tx.get(NS.meta, HELD_TALLY_KEY);
    return bytes ? fromBinary(HeldTallySchema, bytes) : this.rebuildHeld();
  }
  protected putHeldTotals(all: HeldTally): Promise<void> {
    return this.tx.put(NS.meta, HELD_TALLY_KEY, toBinary(HeldTallySchema, all));
  }
  protected async heldGroupTally(groupId: string): Promise<HeldTally> {
    return (await getMessage(this.tx, HeldTallySchema, NS.heldTally, encodeURIComponent(groupId))) ?? create(HeldTallySchema, {});
  }
  protected async putHeldGroupTally(groupId: string, group: HeldTally): Promise<void> {
    if (group.count === 0) await this.tx.delete(NS.heldTally, encodeURIComponent(groupId));
    else await this.tx.put(NS.heldTally, encodeURIComponent(groupId), toBinary(HeldTallySchema, group));
  }

  /**
   * Oldest held messages of the groups holding the most, until `count`/`bytes` leave room for one
   * more message of `size` bytes for `groupId` or no other group holds more than `groupId` would.
   * Reads the tallies of groups that hold messages (at most the pool's count) and the index of each
   * group it takes from; runs only when the pool is full.
   */
  protected async fairShareVictims(
    groupId: string,
    group: HeldTally,
    size: bigint,
    count: number,
    bytes: bigint,
    bound: HeldBound,
    claimed: Set<bigint>,
  ): Promise<Array<{ sequence: bigint; entry: HeldIndexEntry }>> {
    const tallies = new Map<string, { count: number; bytes: bigint }>();
    for (const row of await this.tx.list(NS.heldTally)) {
      const id = decodeURIComponent(row.key);
      if (id === groupId) continue;
      const tally = fromBinary(HeldTallySchema, row.value);
      tallies.set(id, { count: tally.count, bytes: tally.bytes });
    }
    const queues = new Map<string, bigint[]>();
    const victims: Array<{ sequence: bigint; entry: HeldIndexEntry }> = [];
    const mineCount = group.count + 1;
    const mineBytes = group.bytes + size;
    while (count + 1 > bound.count || bytes + size > BigInt(bound.bytes)) {
      const byCount = count + 1 > bound.count;
      let largest: string | undefined;
      for (const [id, t] of tallies) {
        const bigger = byCount ? t.count > mineCount : t.bytes > mineBytes;
        const best = largest === undefined ? undefined : (tallies.get(largest) as { count: number; bytes: bigint });
        if (bigger && (!best || (byCount ? t.count > best.count : t.bytes > best.bytes))) largest = id;
      }
      if (largest === undefined) break;
      let queue = queues.get(largest);
      if (!queue) {
        queue = (await this.tx.list(heldGroupNamespace(largest)))
          .filter((row) => /^[0-9]{20}$/.test(row.key))
          .map((row) => BigInt(row.key))
          .filter((sequence) => !claimed.has(sequence));
        queues.set(largest, queue);
      }
      const tally = tallies.get(largest) as { count: number; bytes: bigint };
      const sequence = queue.shift();
      const indexBytes = sequence === undefined ? undefined : await this.tx.get(NS.heldQueue, sortable(sequence));
      if (sequence === undefined || !indexBytes) {
        tallies.delete(largest); // its index is short of its tally: take from the next group
        continue;
      }
      const entry = fromBinary(HeldIndexEntrySchema, indexBytes);
      victims.push({ sequence, entry });
      claimed.add(sequence);
      tally.count -= 1;
      tally.bytes -= entry.bytes;
      count -= 1;
      bytes -= entry.bytes;
    }
    return victims;
  }

  /** Writes one held message and its index entries (the tallies are the caller's). */
  protected async putHeld(groupId: string, sequence: bigint, heldAt: bigint, payload: Uint8Array, unjoined: boolean): Promise<void> {
    const index = toBinary(HeldIndexEntrySchema, create(HeldIndexEntrySchema, { groupId, heldAt, bytes: BigInt(payload.length) }));
    await this.tx.put(NS.held, heldKey(groupId, sequence), payload);
    await this.tx.put(heldGroupNamespace(groupId), sortable(sequence), new Uint8Array(0));
    await this.tx.put(NS.heldQueue, sortable(sequence), index);
    if (unjoined) await this.tx.put(NS.heldUnjoined, sortable(sequence), index);
  }

  /** Deletes one held message and its index entries, and takes it off both tallies (written by the caller). */
  protected async removeHeld(all: HeldTally, groupId: string, group: HeldTally, sequence: bigint, size: bigint): Promise<void> {
    await this.tx.delete(NS.held, heldKey(groupId, sequence));
    await this.tx.delete(heldGroupNamespace(groupId), sortable(sequence));
    await this.tx.delete(NS.heldQueue, sortable(sequence));
    if (group.unjoined) await this.tx.delete(NS.heldUnjoined, sortable(sequence));
    group.count = Math.max(0, group.count - 1);
    group.bytes = group.bytes > size ? group.bytes - size : 0n;
    all.count = Math.max(0, all.count - 1);
    all.bytes = all.bytes > size ? all.bytes - size : 0n;
    if (group.unjoined) {
      all.unjoinedCount = Math.max(0, all.unjoinedCount - 1);
      all.unjoinedBytes = all.unjoinedBytes > size ? all.unjoinedBytes - size : 0n;
    }
    if (all.count === 0) {
      all.bytes = 0n;
      all.unjoinedCount = 0;
      all.unjoinedBytes = 0n;
      all.headSequence = all.nextSequence;
      all.headHeldAt = 0n;
    }
  }

  /**
   * Puts the group's held messages into held-unjoined (`unjoined`) or takes them out: when the group
   * changes allowance (it joined, or this device was removed from it). Reads the group's messages'
   * index entries only.
   */
  protected async reindexUnjoined(groupId: string, unjoined: boolean): Promise<void> {
    for (const { key } of await this.tx.list(heldGroupNamespace(groupId))) {
      if (!unjoined) {
        await this.tx.delete(NS.heldUnjoined, key);
        continue;
      }
      const entry = await this.tx.get(NS.heldQueue, key);
      if (entry) await this.tx.put(NS.heldUnjoined, key, entry);
    }
  }

  /**
   * Rebuilds the indexes and tallies of held messages from the messages themselves (which are
   * renumbered in the order they were held): reads every held message once.
   */
  protected async rebuildHeld(): Promise<HeldTally> {
    const rows = await this.tx.list(NS.held);
    for (const { key } of await this.tx.list(NS.heldQueue)) await this.tx.delete(NS.heldQueue, key);
    for (const { key } of await this.tx.list(NS.heldUnjoined)) await this.tx.delete(NS.heldUnjoined, key);
    for (const { key } of await this.tx.list(NS.heldTally)) await this.tx.delete(NS.heldTally, key);
    const found: Array<{ groupId: string; value: HeldGroupMessage; payload: Uint8Array }> = [];
    for (const row of rows) {
      await this.tx.delete(NS.held, row.key);
      try {
        const slash = row.key.indexOf('/');
        found.push({ groupId: decodeURIComponent(row.key.slice(0, Math.max(0, slash))), value: fromBinary(HeldGroupMessageSchema, row.value), payload: row.value });
      } catch {
        // Unreadable: dropped (it could never be released).
      }
    }
    const unjoined = new Map<string, boolean>();
    for (const { groupId } of found) {
      if (unjoined.has(groupId)) continue;
      for (const { key } of await this.tx.list(heldGroupNamespace(groupId))) await this.tx.delete(heldGroupNamespace(groupId), key);
      unjoined.set(groupId, (await this.tx.get(NS.groupSessions, groupId)) === undefined);
    }
    found.sort((a, b) => (a.value.heldAt < b.value.heldAt ? -1 : a.value.heldAt > b.value.heldAt ? 1 : 0));
    const all = create(HeldTallySchema, {});
    const groups = new Map<string, HeldTally>();
    for (const { groupId, value, payload } of found) {
      const group = groups.get(groupId) ?? create(HeldTallySchema, { unjoined: unjoined.get(groupId) === true });
      groups.set(groupId, group);
      const sequence = all.nextSequence;
      const size = BigInt(payload.length);
      all.nextSequence = sequence + 1n;
      if (all.count === 0) all.headHeldAt = value.heldAt;
      all.count += 1;
      all.bytes += size;
      group.count += 1;
      group.bytes += size;
      if (group.unjoined) {
        all.unjoinedCount += 1;
        all.unjoinedBytes += size;
      }
      await this.putHeld(groupId, sequence, value.heldAt, payload, group.unjoined);
    }
    for (const [groupId, group] of groups) await this.putHeldGroupTally(groupId, group);
    await this.putHeldTotals(all);
    return all;
  }
}
