/**
 * Typed access to what the runtime stores through the database handler. One namespace per kind of
 * state; every record is protobuf (src/proto/client.proto, state.proto) so it is versionable.
 * Everything here runs inside one database transaction passed in by the caller.
 */
import { create, fromBinary, toBinary, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import type { KeyValueTransaction } from '../store/database.js';
import {
  GroupRecordSchema,
  HeldGroupMessageSchema,
  HeldIndexEntrySchema,
  HeldTallySchema,
  KnownDeviceSchema,
  OutboxEntrySchema,
  PendingPlaintextSchema,
  StoredMessageSchema,
  type GroupRecord,
  type HeldGroupMessage,
  type HeldIndexEntry,
  type HeldTally,
  type KnownDevice,
  type OutboxEntry,
  type PendingPlaintext,
  type StoredMessage,
} from '../proto/gen/client_pb.js';

const NS = {
  account: 'account',
  meta: 'meta',
  /** Before sessions were keyed by peer: session id → state (migrated at start-up, see migrateLegacySessions). */
  legacySessions: 'sessions',
  sessions: 'peer-sessions',
  devices: 'devices',
  groupSessions: 'group-sessions',
  groups: 'groups',
  pending: 'pending',
  /** Pending plaintexts in the order they were queued (for expiry), see purgePending. */
  pendingQueue: 'pending-queue',
  outbox: 'outbox',
  processed: 'processed',
  messages: 'messages',
  undelivered: 'undelivered',
  expiring: 'expiring',
  held: 'held',
  heldQueue: 'held-queue',
  heldTally: 'held-tally',
  heldUnjoined: 'held-unjoined',
  unjoinedGroups: 'unjoined-groups',
} as const;

/** Key of a device record: both parts escaped so no id can collide with another pair. */
export function deviceKey(userId: string, deviceId: string): string {
  return `${encodeURIComponent(userId)}/${encodeURIComponent(deviceId)}`;
}

/** A peer device: whose state a record is. */
export interface PeerDevice {
  userId: string;
  deviceId: string;
}

/**
 * Key of a session record: the peer device first, then the session id. A session id travels in
 * clear and another party could try to reuse one; keyed by its owner, a session of one peer can
 * never be read or replaced through another peer's messages.
 */
function sessionKey(peer: PeerDevice, sessionId: string): string {
  return `${deviceKey(peer.userId, peer.deviceId)}/${encodeURIComponent(sessionId)}`;
}

const PENDING_QUEUE = 'pending-queue';

/** A time-queue entry of a pending plaintext: when it was queued and its record key. */
function pendingQueueEntry(queuedAt: bigint, key: string): Uint8Array {
  return new TextEncoder().encode(`${queuedAt}\n${key}`);
}

function parsePendingQueueEntry(bytes: Uint8Array): { queuedAt: bigint; key: string } {
  const text = new TextDecoder().decode(bytes);
  const newline = text.indexOf('\n');
  return { queuedAt: BigInt(text.slice(0, newline)), key: text.slice(newline + 1) };
}
const EXPIRING_NEXT = 'expiring-next';
function pendingCountKey(userId: string, deviceId: string): string {
  return `pending-count/${deviceKey(userId, deviceId)}`;
}

/** Processed-id keys sort in id order when ids are decimal (the reference server's are). */
function processedKey(protoMsgId: string): string {
  return /^[0-9]{1,20}$/.test(protoMsgId) ? protoMsgId.padStart(20, '0') : `~${protoMsgId}`;
}

/** A zero-padded decimal so keys sort in numeric order. */
function sortable(n: number | bigint): string {
  return n.toString().padStart(20, '0');
}

async function getMessage<D extends DescMessage>(tx: KeyValueTransaction, schema: D, ns: string, key: string): Promise<MessageShape<D> | undefined> {
  const bytes = await tx.get(ns, key);
  return bytes ? fromBinary(schema, bytes) : undefined;
}

async function listMessages<D extends DescMessage>(tx: KeyValueTransaction, schema: D, ns: string, prefix = ''): Promise<Array<{ key: string; value: MessageShape<D> }>> {
  const rows = await tx.list(ns);
  return rows.filter((r) => r.key.startsWith(prefix)).map((r) => ({ key: r.key, value: fromBinary(schema, r.value) }));
}

/** Typed records of one transaction. */
export class Records {
  constructor(readonly tx: KeyValueTransaction) {}

  getAccount(): Promise<Uint8Array | undefined> {
    return this.tx.get(NS.account, 'current');
  }
  putAccount(bytes: Uint8Array): Promise<void> {
    return this.tx.put(NS.account, 'current', bytes);
  }

  async getMeta(key: string): Promise<string | undefined> {
    const bytes = await this.tx.get(NS.meta, key);
    return bytes ? new TextDecoder().decode(bytes) : undefined;
  }
  putMeta(key: string, value: string): Promise<void> {
    return this.tx.put(NS.meta, key, new TextEncoder().encode(value));
  }
  private async nextSequence(): Promise<bigint> {
    const next = BigInt((await this.getMeta('sequence')) ?? '1');
    await this.putMeta('sequence', (next + 1n).toString());
    return next;
  }

  /** The session `sessionId` with `peer` (undefined if this device has no such session with that peer). */
  getSession(peer: PeerDevice, sessionId: string): Promise<Uint8Array | undefined> {
    return this.tx.get(NS.sessions, sessionKey(peer, sessionId));
  }
  putSession(peer: PeerDevice, sessionId: string, bytes: Uint8Array): Promise<void> {
    return this.tx.put(NS.sessions, sessionKey(peer, sessionId), bytes);
  }

  /**
   * Moves sessions stored by bare id (before they were keyed by peer) under their peer; `peerOf`
   * reads a session's peer from its state. Returns how many were moved.
   */
  async migrateLegacySessions(peerOf: (bytes: Uint8Array) => PeerDevice | undefined): Promise<number> {
    let moved = 0;
    for (const { key, value } of await this.tx.list(NS.legacySessions)) {
      const peer = peerOf(value);
      if (peer) {
        await this.putSession(peer, key, value);
        moved++;
      }
      await this.tx.delete(NS.legacySessions, key);
    }
    return moved;
  }

  /**
   * Stores a device record after a new session with it, keeping at most `keep` sessions per device
   * (the sending one is never deleted): each accepted invite makes a session, so without a bound
   * another user could grow this store by inviting again and again.
   */
  async putDeviceWithSession(device: KnownDevice, sessionId: string, keep: number): Promise<void> {
    const ids = [...device.sessionIds.filter((id) => id !== sessionId), sessionId];
    while (ids.length > keep) {
      const index = ids.findIndex((id) => id !== device.sendingSessionId && id !== sessionId);
      if (index < 0) break;
      const [old] = ids.splice(index, 1);
      await this.tx.delete(NS.sessions, sessionKey(device, old as string));
    }
    device.sessionIds = ids;
    await this.putDevice(device);
  }

  getDevice(userId: string, deviceId: string): Promise<KnownDevice | undefined> {
    return getMessage(this.tx, KnownDeviceSchema, NS.devices, deviceKey(userId, deviceId));
  }
  putDevice(device: KnownDevice): Promise<void> {
    return this.tx.put(NS.devices, deviceKey(device.userId, device.deviceId), toBinary(KnownDeviceSchema, device));
  }
  async listDevices(userId: string): Promise<KnownDevice[]> {
    return (await listMessages(this.tx, KnownDeviceSchema, NS.devices, `${encodeURIComponent(userId)}/`)).map((r) => r.value);
  }

  getGroupSession(groupId: string): Promise<Uint8Array | undefined> {
    return this.tx.get(NS.groupSessions, groupId);
  }
  putGroupSession(groupId: string, bytes: Uint8Array): Promise<void> {
    return this.tx.put(NS.groupSessions, groupId, bytes);
  }
  deleteGroupSession(groupId: string): Promise<void> {
    return this.tx.delete(NS.groupSessions, groupId);
  }
  async listGroupIds(): Promise<string[]> {
    return (await this.tx.list(NS.groupSessions)).map((r) => r.key);
  }

  getGroup(groupId: string): Promise<GroupRecord | undefined> {
    return getMessage(this.tx, GroupRecordSchema, NS.groups, groupId);
  }
  putGroup(groupId: string, record: GroupRecord): Promise<void> {
    return this.tx.put(NS.groups, groupId, toBinary(GroupRecordSchema, record));
  }

  /** Queues a plaintext for a device whose session is not accepted yet (counted, and queued by time for expiry). */
  async addPending(pending: Omit<PendingPlaintext, '$typeName' | '$unknown'>): Promise<void> {
    const seq = await this.nextSequence();
    const record = create(PendingPlaintextSchema, pending);
    const count = await this.countPending(pending.userId, pending.deviceId);
    const key = `${deviceKey(pending.userId, pending.deviceId)}/${sortable(seq)}`;
    await this.tx.put(NS.pending, key, toBinary(PendingPlaintextSchema, record));
    await this.putMeta(pendingCountKey(pending.userId, pending.deviceId), String(count + 1));
    const queue = await this.pendingQueue();
    await this.tx.put(NS.pendingQueue, sortable(queue.tail), pendingQueueEntry(pending.queuedAt, key));
    await this.putMeta(PENDING_QUEUE, `${queue.head},${queue.tail + 1}`);
  }
  /**
   * How many plaintexts wait for this device: a counter kept beside them, so that checking the
   * bound does not read the backlog (counted once for a store written before the counter existed).
   */
  async countPending(userId: string, deviceId: string): Promise<number> {
    const stored = await this.getMeta(pendingCountKey(userId, deviceId));
    if (stored !== undefined) return Number(stored);
    const counted = (await this.tx.list(NS.pending)).filter((r) => r.key.startsWith(`${deviceKey(userId, deviceId)}/`)).length;
    await this.putMeta(pendingCountKey(userId, deviceId), String(counted));
    return counted;
  }
  /** Removes and returns the plaintexts waiting for this device, oldest first (their queue entries are skipped later). */
  async takePending(userId: string, deviceId: string): Promise<PendingPlaintext[]> {
    const rows = await listMessages(this.tx, PendingPlaintextSchema, NS.pending, `${deviceKey(userId, deviceId)}/`);
    for (const row of rows) await this.tx.delete(NS.pending, row.key);
    await this.tx.delete(NS.meta, pendingCountKey(userId, deviceId));
    return rows.map((r) => r.value);
  }
  /**
   * Drops plaintexts queued before `before` (ms since the epoch); returns how many per device. The
   * time queue is read from its head: while nothing is due that is two small records, and otherwise
   * one queue entry and one plaintext per copy dropped, however many wait.
   */
  async purgePending(before: bigint): Promise<Array<{ userId: string; deviceId: string; count: number }>> {
    const queue = await this.pendingQueue();
    const dropped = new Map<string, { userId: string; deviceId: string; count: number }>();
    let head = queue.head;
    for (; head < queue.tail; head++) {
      const entry = await this.tx.get(NS.pendingQueue, sortable(head));
      if (!entry) continue;
      const { queuedAt, key } = parsePendingQueueEntry(entry);
      if (queuedAt >= before) break;
      await this.tx.delete(NS.pendingQueue, sortable(head));
      const bytes = await this.tx.get(NS.pending, key);
      if (!bytes) continue; // sent since (its device accepted)
      const value = fromBinary(PendingPlaintextSchema, bytes);
      await this.tx.delete(NS.pending, key);
      const device = deviceKey(value.userId, value.deviceId);
      const counted = dropped.get(device) ?? { userId: value.userId, deviceId: value.deviceId, count: 0 };
      counted.count++;
      dropped.set(device, counted);
    }
    if (head !== queue.head) await this.putMeta(PENDING_QUEUE, `${head},${queue.tail}`);
    for (const entry of dropped.values()) {
      const left = (await this.countPending(entry.userId, entry.deviceId)) - entry.count;
      await this.putMeta(pendingCountKey(entry.userId, entry.deviceId), String(Math.max(0, left)));
    }
    return [...dropped.values()];
  }
  /** The pending plaintexts' time queue: [head, tail) (indexed once for a store written before it existed). */
  private async pendingQueue(): Promise<{ head: number; tail: number }> {
    const stored = await this.getMeta(PENDING_QUEUE);
    if (stored !== undefined) {
      const [head, tail] = stored.split(',').map(Number) as [number, number];
      return { head, tail };
    }
    const rows = (await listMessages(this.tx, PendingPlaintextSchema, NS.pending)).sort((a, b) => (a.value.queuedAt < b.value.queuedAt ? -1 : a.value.queuedAt > b.value.queuedAt ? 1 : 0));
    for (const [i, row] of rows.entries()) await this.tx.put(NS.pendingQueue, sortable(i), pendingQueueEntry(row.value.queuedAt, row.key));
    await this.putMeta(PENDING_QUEUE, `0,${rows.length}`);
    return { head: 0, tail: rows.length };
  }

  async addOutbox(entry: OutboxEntry['request']): Promise<string> {
    const seq = await this.nextSequence();
    await this.tx.put(NS.outbox, sortable(seq), toBinary(OutboxEntrySchema, create(OutboxEntrySchema, { request: entry })));
    return sortable(seq);
  }
  /**
   * Queues an AcceptMsg to `peer`, keeping at most `keep` unsent accepts to that device: anyone can
   * invite this device again and again (each accept is queued automatically), and only the newest
   * sessions with a device are kept anyway, so older accepts could only pile up behind a peer that
   * never takes them.
   */
  async addOutboxAccept(peer: PeerDevice, entry: OutboxEntry['request'], keep: number): Promise<void> {
    const key = await this.addOutbox(entry);
    const metaKey = `outbox-accepts/${deviceKey(peer.userId, peer.deviceId)}`;
    const queued = [...((await this.getMeta(metaKey)) ?? '').split(',').filter((k) => k !== ''), key];
    while (queued.length > keep) await this.tx.delete(NS.outbox, queued.shift() as string);
    await this.putMeta(metaKey, queued.join(','));
  }
  listOutbox(): Promise<Array<{ key: string; value: OutboxEntry }>> {
    return listMessages(this.tx, OutboxEntrySchema, NS.outbox);
  }
  deleteOutbox(key: string): Promise<void> {
    return this.tx.delete(NS.outbox, key);
  }

  async isProcessed(protoMsgId: string): Promise<boolean> {
    return (await this.tx.get(NS.processed, processedKey(protoMsgId))) !== undefined;
  }
  markProcessed(protoMsgId: string): Promise<void> {
    return this.tx.put(NS.processed, processedKey(protoMsgId), new Uint8Array(0));
  }
  /**
   * Keeps the newest `keep` processed ids. They outlive the consume on purpose: a stream that
   * reconnects while a consume is on its way can replay a message once more, and it must be
   * recognised then too.
   */
  async pruneProcessed(keep: number): Promise<void> {
    const rows = await this.tx.list(NS.processed);
    for (const row of rows.slice(0, Math.max(0, rows.length - keep))) await this.tx.delete(NS.processed, row.key);
  }

  /** Stores a received message, not yet delivered (indexed so delivery does not scan the history). */
  async putMessage(message: StoredMessage): Promise<string> {
    // Not the sender's message id: whoever sent it chose that, and it could collide with another's.
    const key = `${sortable(message.receivedAt)}-${encodeURIComponent(message.protoMsgId)}`;
    await this.tx.put(NS.messages, key, toBinary(StoredMessageSchema, message));
    await this.tx.put(NS.undelivered, key, new Uint8Array(0));
    return key;
  }
  /** Messages stored but not yet handed to the app, oldest first. */
  async listUndelivered(): Promise<Array<{ key: string; value: StoredMessage }>> {
    const out: Array<{ key: string; value: StoredMessage }> = [];
    for (const { key } of await this.tx.list(NS.undelivered)) {
      const message = await getMessage(this.tx, StoredMessageSchema, NS.messages, key);
      if (message) out.push({ key, value: message });
      else await this.tx.delete(NS.undelivered, key);
    }
    return out;
  }
  /** Marks a message delivered; a disappearing one is indexed by its expiry time. */
  async markDelivered(key: string, message: StoredMessage): Promise<void> {
    message.delivered = true;
    await this.tx.put(NS.messages, key, toBinary(StoredMessageSchema, message));
    await this.tx.delete(NS.undelivered, key);
    if (message.expiresAt > 0n) {
      await this.tx.put(NS.expiring, `${sortable(message.expiresAt)}/${key}`, new Uint8Array(0));
      const next = await this.getMeta(EXPIRING_NEXT);
      if (next === undefined || next === '' || BigInt(next) > message.expiresAt) await this.putMeta(EXPIRING_NEXT, message.expiresAt.toString());
    }
  }
  /**
   * Deletes delivered disappearing messages whose time is up; returns how many. The earliest expiry
   * is kept in meta, so the once-a-second call reads one record until something is due (a sender
   * decides how many disappearing messages this device holds).
   */
  async purgeExpired(now: bigint): Promise<number> {
    const next = await this.getMeta(EXPIRING_NEXT);
    if (next === '' || (next !== undefined && BigInt(next) > now)) return 0;
    let purged = 0;
    let following: bigint | undefined;
    for (const { key } of await this.tx.list(NS.expiring)) {
      const slash = key.indexOf('/');
      const at = BigInt(key.slice(0, slash));
      if (at > now) {
        following = at;
        break;
      }
      await this.tx.delete(NS.messages, key.slice(slash + 1));
      await this.tx.delete(NS.expiring, key);
      purged++;
    }
    // '' = nothing expiring (so a store from before this record is scanned once, then never idly).
    await this.putMeta(EXPIRING_NEXT, following === undefined ? '' : following.toString());
    return purged;
  }
  listStoredMessages(): Promise<Array<{ key: string; value: StoredMessage }>> {
    return listMessages(this.tx, StoredMessageSchema, NS.messages);
  }
  /** Deletes a stored message (and its indexes). */
  async deleteMessage(key: string, message: StoredMessage): Promise<void> {
    await this.tx.delete(NS.messages, key);
    await this.tx.delete(NS.undelivered, key);
    if (message.expiresAt > 0n) await this.tx.delete(NS.expiring, `${sortable(message.expiresAt)}/${key}`);
  }

  // Held group messages (waiting for their epoch's bundle). Laid out so that holding, counting and
  // purging never read a held message they do not take or drop:
  //   held        <group>/<seq>  the message (HeldGroupMessage)
  //   held-group/<group>  <seq>  empty: the group's messages, listed only to release them
  //   held-queue  <seq>          HeldIndexEntry: every held message in the order it was held (purge)
  //   held-tally  <group>        HeldTally of the group; meta "held": HeldTally of all groups
  //   held-unjoined <seq>        HeldIndexEntry: the messages of not-joined groups only, in the
  //                              order held (what eviction reads; at most about the not-joined pool)
  // <seq> comes from a sequence of its own (HeldTally.next_sequence), so the queue has no gaps but
  // those released messages leave; the purge walks it from head_sequence and skips each gap once.
  // A message is in held-unjoined exactly when its group's tally is `unjoined`.

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
    if (!fits(own, group.count, group.bytes)) return `the allowance of ${joined ? 'a group' : 'a group this device has not joined'} (${own.count} messages, ${own.bytes} bytes) is used up`;
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
      if (!fits(limits.unjoined, all.unjoinedCount - victims.length, all.unjoinedBytes - freedBytes)) return `the allowance of all groups this device has not joined (${limits.unjoined.count} messages, ${limits.unjoined.bytes} bytes) is used up`;
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
      if (!fits(limits.total, all.count - victims.length, all.bytes - freedBytes)) return `the allowance of all groups (${limits.total.count} messages, ${limits.total.bytes} bytes) is used up`;
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
    const index = toBinary(HeldIndexEntrySchema, create(HeldIndexEntrySchema, { groupId, heldAt: held.heldAt, bytes: size }));
    await this.tx.put(NS.held, heldKey(groupId, sequence), payload);
    await this.tx.put(heldGroupNamespace(groupId), sortable(sequence), new Uint8Array(0));
    await this.tx.put(NS.heldQueue, sortable(sequence), index);
    if (!joined) await this.tx.put(NS.heldUnjoined, sortable(sequence), index);
    await this.putHeldGroupTally(groupId, group);
    await this.putHeldTotals(all);
    return undefined;
  }

  /** The group's held messages, oldest first (reads only those). They stay held until {@link dropHeld}. */
  async listHeld(groupId: string): Promise<HeldEntry[]> {
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
  async dropHeld(groupId: string, entries: ReadonlyArray<Pick<HeldEntry, 'sequence' | 'bytes'>>): Promise<void> {
    if (entries.length === 0) return;
    const all = await this.heldTotals();
    const group = await this.heldGroupTally(groupId);
    for (const entry of entries) await this.removeHeld(all, groupId, group, entry.sequence, BigInt(entry.bytes));
    await this.putHeldGroupTally(groupId, group);
    await this.putHeldTotals(all);
  }

  /** From now on the group's held messages count as those of a group this device is in (it joined). */
  async markHeldJoined(groupId: string): Promise<void> {
    const group = await this.heldGroupTally(groupId);
    if (group.count === 0 || !group.unjoined) return;
    const all = await this.heldTotals();
    reclassifyHeldGroup(all, group, false);
    await this.reindexUnjoined(groupId, false);
    await this.putHeldGroupTally(groupId, group);
    await this.putHeldTotals(all);
  }

  /** Messages held in all groups (one record read). */
  async countAllHeld(): Promise<number> {
    return (await this.heldTotals()).count;
  }
  /** Messages held for the group (one record read). */
  async countHeld(groupId: string): Promise<number> {
    return (await this.heldGroupTally(groupId)).count;
  }
  /** Messages and bytes held, in all groups and in the groups this device has not joined. */
  async heldUsage(): Promise<{ count: number; bytes: bigint; unjoinedCount: number; unjoinedBytes: bigint }> {
    const { count, bytes, unjoinedCount, unjoinedBytes } = await this.heldTotals();
    return { count, bytes, unjoinedCount, unjoinedBytes };
  }

  /**
   * Drops held messages older than `before` (ms since the epoch), in the order they were held;
   * returns how many. While nothing is due it reads one record (the tally); otherwise the queue
   * entries it drops, the first one it keeps, and the gaps released messages left since.
   */
  async purgeHeld(before: bigint): Promise<number> {
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

  /** The all-groups tally; rebuilt when missing (a database written before tallies existed). */
  private async heldTotals(): Promise<HeldTally> {
    const bytes = await this.tx.get(NS.meta, HELD_TALLY_KEY);
    return bytes ? fromBinary(HeldTallySchema, bytes) : this.rebuildHeld();
  }
  private putHeldTotals(all: HeldTally): Promise<void> {
    return this.tx.put(NS.meta, HELD_TALLY_KEY, toBinary(HeldTallySchema, all));
  }
  private async heldGroupTally(groupId: string): Promise<HeldTally> {
    return (await getMessage(this.tx, HeldTallySchema, NS.heldTally, encodeURIComponent(groupId))) ?? create(HeldTallySchema, {});
  }
  private async putHeldGroupTally(groupId: string, group: HeldTally): Promise<void> {
    if (group.count === 0) await this.tx.delete(NS.heldTally, encodeURIComponent(groupId));
    else await this.tx.put(NS.heldTally, encodeURIComponent(groupId), toBinary(HeldTallySchema, group));
  }

  /**
   * Oldest held messages of the groups holding the most, until `count`/`bytes` leave room for one
   * more message of `size` bytes for `groupId` or no other group holds more than `groupId` would.
   * Reads the tallies of groups that hold messages (at most the pool's count) and the index of each
   * group it takes from; runs only when the pool is full.
   */
  private async fairShareVictims(
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

  /** Deletes one held message and its index entries, and takes it off both tallies (written by the caller). */
  private async removeHeld(all: HeldTally, groupId: string, group: HeldTally, sequence: bigint, size: bigint): Promise<void> {
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
  private async reindexUnjoined(groupId: string, unjoined: boolean): Promise<void> {
    for (const { key } of await this.tx.list(heldGroupNamespace(groupId))) {
      if (!unjoined) {
        await this.tx.delete(NS.heldUnjoined, key);
        continue;
      }
      const entry = await this.tx.get(NS.heldQueue, key);
      if (entry) await this.tx.put(NS.heldUnjoined, key, entry);
    }
  }

  /** Drops every held message of the group (its record is forgotten); returns how many. */
  private async dropGroupHeld(groupId: string): Promise<number> {
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

  // Records of groups this device has not joined (a CreateGroupMsg, or any group notice, naming a
  // group it has no session of: possibly a stranger's). Counted and ordered so the bound costs no
  // scan:
  //   unjoined-groups <seq>          the group id, in the order first noted
  //   meta "unjoined-group/<group>"  its <seq> (so joining takes it out with one read)
  //   meta "unjoined-groups"         "<count> <head> <next>": how many, the lowest <seq> that may
  //                                  still be there, the next <seq>
  // Eviction walks from head, skipping once each gap that joined groups left.

  /**
   * Counts the record of a group this device has not joined (once; the caller stored it), and
   * forgets the oldest such records beyond `max`, with their held messages. A group that has a
   * session by then is only taken off the count. Reads two small records, plus what it evicts.
   * Returns the groups forgotten and how many held messages went with each.
   */
  async noteUnjoinedGroup(groupId: string, max: number): Promise<Array<{ groupId: string; heldDropped: number }>> {
    const own = unjoinedGroupKey(groupId);
    if ((await this.getMeta(own)) !== undefined) return [];
    const state = await this.unjoinedGroupsState();
    const sequence = state.next;
    await this.tx.put(NS.unjoinedGroups, sortable(sequence), new TextEncoder().encode(groupId));
    await this.putMeta(own, sequence.toString());
    state.next = sequence + 1n;
    state.count += 1;
    const forgotten: Array<{ groupId: string; heldDropped: number }> = [];
    while (state.count > max && state.head < state.next) {
      const key = sortable(state.head);
      state.head += 1n;
      const bytes = await this.tx.get(NS.unjoinedGroups, key);
      if (!bytes) continue;
      const oldest = new TextDecoder().decode(bytes);
      await this.tx.delete(NS.unjoinedGroups, key);
      await this.tx.delete(NS.meta, unjoinedGroupKey(oldest));
      state.count -= 1;
      if (oldest === groupId || (await this.tx.get(NS.groupSessions, oldest)) !== undefined) continue;
      await this.tx.delete(NS.groups, oldest);
      forgotten.push({ groupId: oldest, heldDropped: await this.dropGroupHeld(oldest) });
    }
    if (state.head >= state.next) state.count = 0;
    await this.putMeta(UNJOINED_GROUPS_KEY, `${state.count} ${state.head} ${state.next}`);
    return forgotten;
  }

  /** The group is joined (this device has its session): its record no longer counts as not joined. One read otherwise. */
  async forgetUnjoinedGroup(groupId: string): Promise<void> {
    const own = unjoinedGroupKey(groupId);
    const sequence = await this.getMeta(own);
    if (sequence === undefined) return;
    await this.tx.delete(NS.meta, own);
    if (/^[0-9]{1,20}$/.test(sequence)) await this.tx.delete(NS.unjoinedGroups, sortable(BigInt(sequence)));
    const state = await this.unjoinedGroupsState();
    state.count = Math.max(0, state.count - 1);
    await this.putMeta(UNJOINED_GROUPS_KEY, `${state.count} ${state.head} ${state.next}`);
  }

  /** How many records of groups this device has not joined are counted (one record read). */
  async countUnjoinedGroups(): Promise<number> {
    return (await this.unjoinedGroupsState()).count;
  }

  private async unjoinedGroupsState(): Promise<{ count: number; head: bigint; next: bigint }> {
    const parts = ((await this.getMeta(UNJOINED_GROUPS_KEY)) ?? '').split(' ');
    if (parts.length === 3 && parts.every((p) => /^[0-9]{1,20}$/.test(p))) {
      return { count: Number(parts[0]), head: BigInt(parts[1] as string), next: BigInt(parts[2] as string) };
    }
    return { count: 0, head: 0n, next: 0n };
  }

  /**
   * Rebuilds the indexes and tallies of held messages from the messages themselves (which are
   * renumbered in the order they were held): reads every held message once.
   */
  private async rebuildHeld(): Promise<HeldTally> {
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
      const index = toBinary(HeldIndexEntrySchema, create(HeldIndexEntrySchema, { groupId, heldAt: value.heldAt, bytes: size }));
      await this.tx.put(NS.held, heldKey(groupId, sequence), payload);
      await this.tx.put(heldGroupNamespace(groupId), sortable(sequence), new Uint8Array(0));
      await this.tx.put(NS.heldQueue, sortable(sequence), index);
      if (group.unjoined) await this.tx.put(NS.heldUnjoined, sortable(sequence), index);
    }
    for (const [groupId, group] of groups) await this.putHeldGroupTally(groupId, group);
    await this.putHeldTotals(all);
    return all;
  }
}

/** Meta key of the all-groups HeldTally. */
const HELD_TALLY_KEY = 'held';
/** Meta key of the count and order of records of groups this device has not joined. */
const UNJOINED_GROUPS_KEY = 'unjoined-groups';
function unjoinedGroupKey(groupId: string): string {
  return `unjoined-group/${encodeURIComponent(groupId)}`;
}

function heldKey(groupId: string, sequence: bigint): string {
  return `${encodeURIComponent(groupId)}/${sortable(sequence)}`;
}

/** Namespace listing one group's held messages (so releasing them reads no other group's). */
function heldGroupNamespace(groupId: string): string {
  return `held-group/${encodeURIComponent(groupId)}`;
}

/** Moves the group's held messages into or out of the all-not-joined-groups tally. */
function reclassifyHeldGroup(all: HeldTally, group: HeldTally, unjoined: boolean): void {
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

/** A held message of a not-joined group dropped to make room for another not-joined group's (Records.hold). */
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
