/**
 * Group messages held until their epoch's bundle arrives, within the allowances (HeldLimits; the
 * runtime's are in src/client/groups.ts): holding, listing and dropping a group's messages, moving
 * a group to the joined allowance, and the purge of those whose bundle never came. The layout of
 * the messages, tallies and indexes is in held-layout.ts.
 */
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { HeldGroupMessageSchema, HeldIndexEntrySchema, type HeldGroupMessage, type HeldIndexEntry, type HeldTally } from '../../proto/gen/client_pb.js';
import { heldGroupNamespace, HeldLayout, heldKey, reclassifyHeldGroup, type HeldBound, type HeldEntry, type HeldEviction, type HeldLimits } from './held-layout.js';
import { NS, sortable } from './keys.js';

export type { HeldBound, HeldEntry, HeldEviction, HeldLimits } from './held-layout.js';

export class HeldRecords extends HeldLayout {
  /**
   * Holds a group message until its epoch's bundle arrives, within `limits` (`joined`: this device
   * has a session of the group). Reads two small records however many are held. Returns undefined
   * when it is held, otherwise which allowance is used up (and writes nothing).
   *
   * When the pool of all not-joined groups is full, a message of a not-joined group that fits its
   * own group's allowance makes room by dropping the oldest held messages of *other* not-joined
   * groups (listed in `evicted`, for the caller to report): a stranger who filled the pool once
   * cannot keep the first messages of the next new group out, and one who keeps flooding mostly
   * evicts its own older messages. Only then is held-unjoined read (about the pool's size).
   */
  async hold(groupId: string, held: HeldGroupMessage, joined: boolean, limits: HeldLimits, evicted: HeldEviction[] = []): Promise<string | undefined> {
    return this.holdOnce(groupId, held, joined, limits, evicted, false);
  }

  private async holdOnce(groupId: string, held: HeldGroupMessage, joined: boolean, limits: HeldLimits, evicted: HeldEviction[], rebuilt: boolean): Promise<string | undefined> {
    const payload = toBinary(HeldGroupMessageSchema, held);
    const size = BigInt(payload.length);
    const all = await this.heldTotals();
    const group = await this.heldGroupTally(groupId);
    // Messages of not-joined groups in held-unjoined before this group's (if any) change allowance.
    const indexed = all.unjoinedCount;
    const moves = group.count > 0 && group.unjoined === joined;
    // A group's allowance follows whether this device is in it now (it joined, or was removed).
    reclassifyHeldGroup(all, group, !joined);
    const fits = (bound: HeldBound, count: number, bytes: bigint): boolean => count + 1 <= bound.count && bytes + size <= BigInt(bound.bytes);
    const own = joined ? limits.group : limits.unjoinedGroup;
    if (!fits(own, group.count, group.bytes))
      return `the allowance of ${joined ? 'a group' : 'a group this device has not joined'} (${own.count} messages, ${own.bytes} bytes) is used up`;
    const victims: Array<{ sequence: bigint; entry: HeldIndexEntry }> = [];
    const fairShare = new Set<bigint>();
    let freedBytes = 0n;
    if (!joined && !fits(limits.unjoined, all.unjoinedCount, all.unjoinedBytes)) {
      const rows = await this.tx.list(NS.heldUnjoined);
      if (rows.length !== indexed && !rebuilt) {
        // The index does not match the tally (a database written before it existed): rebuild once.
        await this.rebuildHeld();
        return this.holdOnce(groupId, held, joined, limits, evicted, true);
      }
      for (const row of rows) {
        if (fits(limits.unjoined, all.unjoinedCount - victims.length, all.unjoinedBytes - freedBytes)) break;
        if (!/^[0-9]{20}$/.test(row.key)) continue;
        const entry = fromBinary(HeldIndexEntrySchema, row.value);
        if (entry.groupId === groupId) continue;
        victims.push({ sequence: BigInt(row.key), entry });
        freedBytes += entry.bytes;
      }
      if (!fits(limits.unjoined, all.unjoinedCount - victims.length, all.unjoinedBytes - freedBytes))
        return `the allowance of all groups this device has not joined (${limits.unjoined.count} messages, ${limits.unjoined.bytes} bytes) is used up`;
    }
    if (!fits(limits.total, all.count - victims.length, all.bytes - freedBytes)) {
      // The pool is shared fairly: a group (joined or not) holding more than this one would after
      // adding gives up its oldest messages. Without this, a stranger who made this device join a
      // few groups and never sends their bundles would fill the pool for a week and every other
      // group's first messages would be refused.
      const claimed = new Set(victims.map((v) => v.sequence));
      const fair = await this.fairShareVictims(groupId, group, size, all.count - victims.length, all.bytes - freedBytes, limits.total, claimed);
      for (const victim of fair) {
        fairShare.add(victim.sequence);
        victims.push(victim);
        freedBytes += victim.entry.bytes;
      }
      if (!fits(limits.total, all.count - victims.length, all.bytes - freedBytes))
        return `the allowance of all groups (${limits.total.count} messages, ${limits.total.bytes} bytes) is used up`;
    }
    if (moves) await this.reindexUnjoined(groupId, !joined);
    if (victims.length > 0) {
      const tallies = new Map<string, HeldTally>();
      for (const { sequence, entry } of victims) {
        let tally = tallies.get(entry.groupId);
        if (!tally) {
          tally = await this.heldGroupTally(entry.groupId);
          tallies.set(entry.groupId, tally);
        }
        await this.removeHeld(all, entry.groupId, tally, sequence, entry.bytes);
        evicted.push({ groupId: entry.groupId, heldAt: entry.heldAt, bytes: entry.bytes, unjoined: !fairShare.has(sequence) });
      }
      for (const [id, tally] of tallies) await this.putHeldGroupTally(id, tally);
    }
    const sequence = all.nextSequence;
    all.nextSequence = sequence + 1n;
    if (all.count === 0) {
      all.headSequence = sequence;
      all.headHeldAt = held.heldAt;
    }
    all.count += 1;
    all.bytes += size;
    if (!joined) {
      all.unjoinedCount += 1;
      all.unjoinedBytes += size;
    }
    group.count += 1;
    group.bytes += size;
    await this.putHeld(groupId, sequence, held.heldAt, payload, !joined);
    await this.putHeldGroupTally(groupId, group);
    await this.putHeldTotals(all);
    return undefined;
  }

  /** The group's held messages, oldest first (reads only those). They stay held until {@link drop}. */
  async list(groupId: string): Promise<HeldEntry[]> {
    if ((await this.heldGroupTally(groupId)).count === 0) return [];
    const namespace = heldGroupNamespace(groupId);
    const out: HeldEntry[] = [];
    for (const { key } of await this.tx.list(namespace)) {
      const bytes = /^[0-9]{20}$/.test(key) ? await this.tx.get(NS.held, heldKey(groupId, BigInt(key))) : undefined;
      if (bytes) out.push({ sequence: BigInt(key), bytes: bytes.length, value: fromBinary(HeldGroupMessageSchema, bytes) });
      else await this.tx.delete(namespace, key);
    }
    return out;
  }

  /** Removes held messages of the group (released, or dropped as undecryptable). */
  async drop(groupId: string, entries: ReadonlyArray<Pick<HeldEntry, 'sequence' | 'bytes'>>): Promise<void> {
    if (entries.length === 0) return;
    const all = await this.heldTotals();
    const group = await this.heldGroupTally(groupId);
    for (const entry of entries) await this.removeHeld(all, groupId, group, entry.sequence, BigInt(entry.bytes));
    await this.putHeldGroupTally(groupId, group);
    await this.putHeldTotals(all);
  }

  /** From now on the group's held messages count as those of a group this device is in (it joined). */
  async markJoined(groupId: string): Promise<void> {
    const group = await this.heldGroupTally(groupId);
    if (group.count === 0 || !group.unjoined) return;
    const all = await this.heldTotals();
    reclassifyHeldGroup(all, group, false);
    await this.reindexUnjoined(groupId, false);
    await this.putHeldGroupTally(groupId, group);
    await this.putHeldTotals(all);
  }

  /** Messages held in all groups (one record read). */
  async countAll(): Promise<number> {
    return (await this.heldTotals()).count;
  }
  /** Messages held for the group (one record read). */
  async count(groupId: string): Promise<number> {
    return (await this.heldGroupTally(groupId)).count;
  }
  /** Messages and bytes held, in all groups and in the groups this device has not joined. */
  async usage(): Promise<{ count: number; bytes: bigint; unjoinedCount: number; unjoinedBytes: bigint }> {
    const { count, bytes, unjoinedCount, unjoinedBytes } = await this.heldTotals();
    return { count, bytes, unjoinedCount, unjoinedBytes };
  }

  /**
   * Drops held messages older than `before` (ms since the epoch), in the order they were held;
   * returns how many. While nothing is due it reads one record (the tally); otherwise the queue
   * entries it drops, the first one it keeps, and the gaps released messages left since.
   */
  async purge(before: bigint): Promise<number> {
    const all = await this.heldTotals();
    if (all.count === 0 || all.headHeldAt >= before) return 0;
    const groups = new Map<string, HeldTally>();
    let purged = 0;
    let sequence = all.headSequence;
    let kept: bigint | undefined;
    for (; sequence < all.nextSequence && all.count > 0; sequence++) {
      const bytes = await this.tx.get(NS.heldQueue, sortable(sequence));
      if (!bytes) continue;
      const entry = fromBinary(HeldIndexEntrySchema, bytes);
      if (entry.heldAt >= before) {
        kept = entry.heldAt;
        break;
      }
      let group = groups.get(entry.groupId);
      if (!group) {
        group = await this.heldGroupTally(entry.groupId);
        groups.set(entry.groupId, group);
      }
      await this.removeHeld(all, entry.groupId, group, sequence, entry.bytes);
      purged++;
    }
    if (kept === undefined && all.count > 0) {
      // The tally counts messages the queue does not have: it drifted (a damaged database). Start over from the messages.
      await this.rebuildHeld();
      return purged;
    }
    for (const [groupId, group] of groups) await this.putHeldGroupTally(groupId, group);
    if (kept !== undefined) {
      all.headSequence = sequence;
      all.headHeldAt = kept;
    }
    await this.putHeldTotals(all);
    return purged;
  }

  /** Drops every held message of the group (its record is forgotten); returns how many. */
  async dropGroup(groupId: string): Promise<number> {
    const group = await this.heldGroupTally(groupId);
    if (group.count === 0) return 0;
    const all = await this.heldTotals();
    const namespace = heldGroupNamespace(groupId);
    let dropped = 0;
    for (const { key } of await this.tx.list(namespace)) {
      if (!/^[0-9]{20}$/.test(key)) {
        await this.tx.delete(namespace, key);
        continue;
      }
      const sequence = BigInt(key);
      const entry = await this.tx.get(NS.heldQueue, key);
      const size = entry ? fromBinary(HeldIndexEntrySchema, entry).bytes : BigInt((await this.tx.get(NS.held, heldKey(groupId, sequence)))?.length ?? 0);
      await this.removeHeld(all, groupId, group, sequence, size);
      dropped++;
    }
    await this.putHeldGroupTally(groupId, group);
    await this.putHeldTotals(all);
    return dropped;
  }
}
