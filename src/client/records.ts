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
  KnownDeviceSchema,
  OutboxEntrySchema,
  PendingPlaintextSchema,
  StoredMessageSchema,
  type GroupRecord,
  type HeldGroupMessage,
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
  outbox: 'outbox',
  processed: 'processed',
  messages: 'messages',
  undelivered: 'undelivered',
  expiring: 'expiring',
  held: 'held',
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

const PENDING_OLDEST = 'pending-oldest';
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

  /** Queues a plaintext for a device whose session is not accepted yet (counted, and its time noted for expiry). */
  async addPending(pending: Omit<PendingPlaintext, '$typeName' | '$unknown'>): Promise<void> {
    const seq = await this.nextSequence();
    const record = create(PendingPlaintextSchema, pending);
    const count = await this.countPending(pending.userId, pending.deviceId);
    await this.tx.put(NS.pending, `${deviceKey(pending.userId, pending.deviceId)}/${sortable(seq)}`, toBinary(PendingPlaintextSchema, record));
    await this.putMeta(pendingCountKey(pending.userId, pending.deviceId), String(count + 1));
    const oldest = await this.getMeta(PENDING_OLDEST);
    if (oldest === undefined || BigInt(oldest) > pending.queuedAt) await this.putMeta(PENDING_OLDEST, pending.queuedAt.toString());
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
  /** Removes and returns the plaintexts waiting for this device, oldest first. */
  async takePending(userId: string, deviceId: string): Promise<PendingPlaintext[]> {
    const rows = await listMessages(this.tx, PendingPlaintextSchema, NS.pending, `${deviceKey(userId, deviceId)}/`);
    for (const row of rows) await this.tx.delete(NS.pending, row.key);
    await this.tx.delete(NS.meta, pendingCountKey(userId, deviceId));
    return rows.map((r) => r.value);
  }
  /**
   * Drops plaintexts queued before `before` (ms since the epoch); returns how many per device.
   * Reads the backlog only when its oldest entry is due, so the periodic call is one read otherwise.
   */
  async purgePending(before: bigint): Promise<Array<{ userId: string; deviceId: string; count: number }>> {
    const oldest = await this.getMeta(PENDING_OLDEST);
    if (oldest === undefined || BigInt(oldest) >= before) return [];
    const dropped = new Map<string, { userId: string; deviceId: string; count: number }>();
    let nextOldest: bigint | undefined;
    for (const { key, value } of await listMessages(this.tx, PendingPlaintextSchema, NS.pending)) {
      if (value.queuedAt >= before) {
        if (nextOldest === undefined || value.queuedAt < nextOldest) nextOldest = value.queuedAt;
        continue;
      }
      await this.tx.delete(NS.pending, key);
      const device = deviceKey(value.userId, value.deviceId);
      const entry = dropped.get(device) ?? { userId: value.userId, deviceId: value.deviceId, count: 0 };
      entry.count++;
      dropped.set(device, entry);
    }
    for (const entry of dropped.values()) {
      const left = (await this.countPending(entry.userId, entry.deviceId)) - entry.count;
      await this.putMeta(pendingCountKey(entry.userId, entry.deviceId), String(Math.max(0, left)));
    }
    if (nextOldest === undefined) await this.tx.delete(NS.meta, PENDING_OLDEST);
    else await this.putMeta(PENDING_OLDEST, nextOldest.toString());
    return [...dropped.values()];
  }

  async addOutbox(entry: OutboxEntry['request']): Promise<void> {
    const seq = await this.nextSequence();
    await this.tx.put(NS.outbox, sortable(seq), toBinary(OutboxEntrySchema, create(OutboxEntrySchema, { request: entry })));
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
    const key = `${sortable(message.receivedAt)}-${message.messageId}-${message.protoMsgId}`;
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
    if (message.expiresAt > 0n) await this.tx.put(NS.expiring, `${sortable(message.expiresAt)}/${key}`, new Uint8Array(0));
  }
  /** Deletes delivered disappearing messages whose time is up; returns how many. */
  async purgeExpired(now: bigint): Promise<number> {
    let purged = 0;
    for (const { key } of await this.tx.list(NS.expiring)) {
      const slash = key.indexOf('/');
      if (BigInt(key.slice(0, slash)) > now) break;
      await this.tx.delete(NS.messages, key.slice(slash + 1));
      await this.tx.delete(NS.expiring, key);
      purged++;
    }
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

  async hold(groupId: string, held: HeldGroupMessage): Promise<void> {
    await this.tx.put(NS.held, `${encodeURIComponent(groupId)}/${sortable(await this.nextSequence())}`, toBinary(HeldGroupMessageSchema, held));
  }
  async takeHeld(groupId: string): Promise<HeldGroupMessage[]> {
    const rows = await listMessages(this.tx, HeldGroupMessageSchema, NS.held, `${encodeURIComponent(groupId)}/`);
    for (const row of rows) await this.tx.delete(NS.held, row.key);
    return rows.map((r) => r.value);
  }
  async countAllHeld(): Promise<number> {
    return (await this.tx.list(NS.held)).length;
  }
  /** Drops held messages older than `before` (ms since the epoch); returns how many. */
  async purgeHeld(before: bigint): Promise<number> {
    let purged = 0;
    for (const { key, value } of await listMessages(this.tx, HeldGroupMessageSchema, NS.held)) {
      if (value.heldAt < before) {
        await this.tx.delete(NS.held, key);
        purged++;
      }
    }
    return purged;
  }
  async countHeld(groupId: string): Promise<number> {
    return (await this.tx.list(NS.held)).filter((r) => r.key.startsWith(`${encodeURIComponent(groupId)}/`)).length;
  }
}
