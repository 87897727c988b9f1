/**
 * The reference server's storage interface (docs/server.md, "Storage"). Every method is one atomic
 * unit of work, so a backend other than SQLite (e.g. Postgres) implements each as one transaction;
 * the handlers (src/server/accounts.ts, groups.ts, …) never see SQL. Only public keys and opaque, already
 * encrypted messages are stored.
 */

import type { AuditStore } from './audit-types.js';

export type { AuditBatch, AuditSnapshot, AuditStore, KeyEntryRef, StoredMerkleNode } from './audit-types.js';

/** A device's public keys as registered. */
export interface DeviceRecord {
  userId: string;
  deviceId: string;
  suiteId: number;
  signPublicKey: Uint8Array;
  kemPublicKey: Uint8Array;
  signedPreKey: SignedPreKeyRecord;
  createdAt: number;
}

export interface SignedPreKeyRecord {
  spkId: number;
  publicKey: Uint8Array;
  signature: Uint8Array;
}

export interface OneTimePreKeyRecord {
  opkId: number;
  publicKey: Uint8Array;
}

export interface UserRecord {
  userId: string;
  userName: string;
  createdAt: number;
}

/** A group member: `left` members get nothing routed to them until a manager removes them. */
export interface GroupMemberRecord {
  userId: string;
  role: 'manager' | 'member';
  state: 'active' | 'left';
  /** Order of joining within the group (smaller joined earlier). */
  joinedOrder: number;
}

export interface GroupDeviceRecord {
  userId: string;
  deviceId: string;
}

export interface GroupRecord {
  groupId: string;
  groupName: string;
  /** The membership epoch (changes with AddGroupMembers, RemoveGroupMembers, AddGroupMemberDevice). */
  epoch: number;
  /** Internal write counter for compare-and-set of every change (including LeaveGroup). */
  version: number;
  createdAt: number;
  members: GroupMemberRecord[];
  /** Devices in the group (devices of members; a user's later devices join via AddGroupMemberDevice). */
  devices: GroupDeviceRecord[];
}

/** A message to put in one device's queue. `body` is an encoded ProtoMsg without its id. */
export interface NewQueuedMessage {
  userId: string;
  deviceId: string;
  body: Uint8Array;
  queuedAt: number;
  expiresAt: number;
  /**
   * Subject to {@link EnqueueOptions.queueLimit}, all or nothing (client-sent messages: if a
   * recipient's queue is full, nothing of the batch is queued).
   */
  limited: boolean;
  /**
   * Server notices: queued only while the recipient's queue holds fewer than this many messages;
   * otherwise this recipient is skipped and the rest of the batch is queued (the caller's request
   * does not fail). Absent: no cap.
   */
  queueCap?: number;
  /**
   * At most one unconsumed message per (recipient device, key): this one replaces an older one with
   * the same key, in the same transaction. A replacement does not grow the queue, so it is queued
   * even when the queue is at `queueCap`.
   */
  coalesceKey?: string;
}

export interface QueuedMessage {
  /** Increasing per recipient device (and globally, for this backend). */
  seq: number;
  userId: string;
  deviceId: string;
  body: Uint8Array;
  queuedAt: number;
}

export interface QueuedRef {
  seq: number;
  userId: string;
  deviceId: string;
}

export type EnqueueResult = { ok: true; queued: QueuedRef[]; skipped: GroupDeviceRecord[] } | { ok: false; fullDevice: GroupDeviceRecord };

export interface EnqueueOptions {
  /** Per-device limit for `limited` messages; if any recipient would exceed it nothing is queued. */
  queueLimit: number;
  now: number;
}

export type SupplyResult = { ok: true; available: number } | { ok: false; reason: 'duplicate' | 'too-many'; available: number };

export interface TakeOpkResult {
  opk: OneTimePreKeyRecord | undefined;
  /** One-time pre-keys left after this one. */
  remaining: number;
  /** True exactly once when the device fell below the threshold since its last resupply. */
  supplyRequested: boolean;
  /** The SupplyOpkMsg queued (in the same transaction as the mark) when supplyRequested. */
  queued: QueuedRef[];
}

export type SaveGroupResult = { ok: true; queued: QueuedRef[] } | { ok: false; current: GroupRecord | undefined };

export interface AddDeviceOptions {
  /** A user has at most this many devices: the device is not added ('too-many') if it would be more. */
  maxDevices: number;
}

export type AddDeviceResult = { ok: true; queued: QueuedRef[] } | { ok: false; reason: 'exists' | 'too-many' };

/** A device the server placed in a group at an epoch, with its registered identity keys. */
export interface GroupEpochDeviceRecord {
  userId: string;
  deviceId: string;
  suiteId: number;
  signPublicKey: Uint8Array;
  kemPublicKey: Uint8Array;
}

export interface GroupEpochRecord {
  epoch: number;
  /** The routed devices (devices of active members) when the epoch was assigned, in the group's device order. */
  devices: GroupEpochDeviceRecord[];
}

export interface ServerStore {
  /** The security audit log's storage; absent: the backend keeps no audit log. */
  readonly audit?: AuditStore;
  /** Creates a user with its first device and pre-keys; false if the user id exists. */
  createUser(user: UserRecord, device: DeviceRecord, opks: OneTimePreKeyRecord[]): Promise<boolean>;
  /**
   * Adds a device to an existing user and queues `messages` with it; 'exists' if the user is unknown
   * or that device id exists, 'too-many' if the user already has `options.maxDevices` devices.
   */
  addDevice(device: DeviceRecord, opks: OneTimePreKeyRecord[], messages: NewQueuedMessage[], options: AddDeviceOptions): Promise<AddDeviceResult>;
  getUser(userId: string): Promise<UserRecord | undefined>;
  setUserName(userId: string, userName: string): Promise<void>;
  getDevice(userId: string, deviceId: string): Promise<DeviceRecord | undefined>;
  /** The device registered with this identity signature key, if any. */
  findDeviceBySignKey(signPublicKey: Uint8Array): Promise<DeviceRecord | undefined>;
  listDevices(userId: string): Promise<DeviceRecord[]>;
  /** Every device of every user (for system notices). */
  listAllDevices(): Promise<GroupDeviceRecord[]>;
  replaceSignedPreKey(userId: string, deviceId: string, spk: SignedPreKeyRecord): Promise<void>;
  /**
   * Adds one-time pre-keys: all or none. Refuses ids already stored ('duplicate') and a total above
   * `maxTotal` ('too-many'). Clears the "supply requested" mark once `lowThreshold` keys are available.
   */
  addOneTimePreKeys(userId: string, deviceId: string, opks: OneTimePreKeyRecord[], maxTotal: number, lowThreshold: number): Promise<SupplyResult>;
  /**
   * Removes and returns one one-time pre-key (each is handed out at most once). When the device
   * falls below `lowThreshold` for the first time since its last resupply, marks it and queues
   * `supplyNotice(remaining)` atomically with the mark, so a crash cannot lose the notice. If the
   * notice is skipped (its `queueCap`: the queue is full), the device is not marked either, so a
   * later take asks again.
   */
  takeOneTimePreKey(userId: string, deviceId: string, lowThreshold: number, supplyNotice: (remaining: number) => NewQueuedMessage): Promise<TakeOpkResult>;
  countOneTimePreKeys(userId: string, deviceId: string): Promise<number>;
  /**
   * Records that `watcherUserId` learns about `watchedUserId`'s new devices and name changes. Not
   * recorded (false) if the watcher already watches `maxContacts` users or the watched user already
   * has `maxContacts` watchers; true if recorded now or before.
   */
  addContact(watcherUserId: string, watchedUserId: string, now: number, maxContacts: number): Promise<boolean>;
  listWatchers(watchedUserId: string): Promise<string[]>;
  getGroup(groupId: string): Promise<GroupRecord | undefined>;
  /**
   * The devices placed in a group at `epoch` (the routed devices when that epoch was assigned), or
   * undefined for an unknown group, an epoch never assigned or one pruned from the history.
   */
  getGroupEpoch(groupId: string, epoch: number): Promise<GroupEpochRecord | undefined>;
  /**
   * Creates a group (version 1) and queues `messages`; false if the id exists. Records epoch
   * `group.epoch` in the group's epoch history (see {@link getGroupEpoch}) in the same transaction.
   */
  createGroup(group: GroupRecord, messages: NewQueuedMessage[]): Promise<{ ok: boolean; queued: QueuedRef[] }>;
  /**
   * Replaces a group's state if its stored version is still `expectedVersion` (then stores
   * version + 1) and queues `messages` in the same transaction. When `group.epoch` differs from
   * the stored epoch, also records the new epoch's routed devices in the epoch history, which keeps
   * a bounded number of the group's newest epochs (SQLite: 32 by default) (a leave saves without a
   * new epoch: nothing recorded).
   */
  saveGroup(group: GroupRecord, expectedVersion: number, messages: NewQueuedMessage[]): Promise<SaveGroupResult>;
  /** Queues messages atomically (see {@link EnqueueOptions}). */
  /** Messages queued (not expired) for one device, of every kind. */
  countQueued(userId: string, deviceId: string, now: number): Promise<number>;
  enqueue(messages: NewQueuedMessage[], options: EnqueueOptions): Promise<EnqueueResult>;
  /** Unexpired queued messages of a device with seq > afterSeq, in order, at most `limit`. */
  listQueued(userId: string, deviceId: string, afterSeq: number, now: number, limit: number): Promise<QueuedMessage[]>;
  /** Deletes a message of that device's queue; false if there was none. */
  consume(userId: string, deviceId: string, seq: number): Promise<boolean>;
  /** Deletes messages whose time-to-live is over; returns how many. */
  deleteExpired(now: number): Promise<number>;
  close(): Promise<void>;
}
