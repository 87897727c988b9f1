/**
 * SQLite backend of {@link ServerStore} (better-sqlite3, one file, WAL, synchronous=FULL). Every
 * method runs as one synchronous transaction, so concurrent requests in this process never
 * interleave inside one (one-time pre-keys are handed out once, group changes compare-and-set).
 */
import type {
  AddDeviceOptions,
  AddDeviceResult,
  DeviceRecord,
  EnqueueOptions,
  EnqueueResult,
  GroupDeviceRecord,
  GroupEpochDeviceRecord,
  GroupEpochRecord,
  GroupRecord,
  NewQueuedMessage,
  OneTimePreKeyRecord,
  QueuedMessage,
  QueuedRef,
  SaveGroupResult,
  ServerStore,
  SignedPreKeyRecord,
  SupplyResult,
  TakeOpkResult,
  UserRecord,
} from '../types.js';
import { SqliteAuditStore } from './audit.js';
import { bytes, type Database, type DeviceRow, deviceFromRow, prepareStatements, type Statements } from './statements.js';

/** How many of a group's newest epochs the SQLite store keeps for GetGroupEpoch, by default. */
export const DEFAULT_GROUP_EPOCH_HISTORY = 32;

export class SqliteStore implements ServerStore {
  readonly audit: SqliteAuditStore;
  private readonly db: Database;
  private readonly stmt: Statements;
  private readonly groupEpochHistory: number;

  constructor(db: Database, groupEpochHistory = DEFAULT_GROUP_EPOCH_HISTORY) {
    this.db = db;
    this.groupEpochHistory = groupEpochHistory;
    this.stmt = prepareStatements(db);
    this.audit = new SqliteAuditStore(db);
  }

  /**
   * Inserts messages in order (inside the caller's transaction). A message with a `coalesceKey`
   * replaces that device's older one with the key; one with a `queueCap` is skipped (added to
   * `skipped`) when its recipient's queue already holds that many unexpired messages, unless it
   * replaces one (the queue does not grow then).
   */
  private insertMessages(messages: NewQueuedMessage[], skipped: GroupDeviceRecord[] = []): QueuedRef[] {
    const counts = new Map<string, number>();
    const queued: QueuedRef[] = [];
    for (const m of messages) {
      const key = `${m.userId}\u0000${m.deviceId}`;
      const old = m.coalesceKey === undefined ? undefined : (this.stmt.deleteCoalesced.get(m.userId, m.deviceId, m.coalesceKey) as { expires_at: number } | undefined);
      const replaced = old !== undefined && old.expires_at > m.queuedAt;
      if (!replaced && m.queueCap !== undefined) {
        const n = counts.get(key) ?? (this.stmt.countLimited.get(m.userId, m.deviceId, m.queuedAt) as { n: number }).n;
        counts.set(key, n);
        if (n >= m.queueCap) {
          skipped.push({ userId: m.userId, deviceId: m.deviceId });
          continue;
        }
      }
      const info = this.stmt.insertMessage.run(m.userId, m.deviceId, m.body, m.queuedAt, m.expiresAt, m.limited ? 1 : 0, m.coalesceKey ?? null);
      const n = counts.get(key);
      if (n !== undefined && !replaced) counts.set(key, n + 1);
      queued.push({ seq: Number(info.lastInsertRowid), userId: m.userId, deviceId: m.deviceId });
    }
    return queued;
  }

  private insertDeviceRow(device: DeviceRecord, opks: OneTimePreKeyRecord[]): void {
    const spk = device.signedPreKey;
    this.stmt.insertDevice.run(
      device.userId,
      device.deviceId,
      device.suiteId,
      device.signPublicKey,
      device.kemPublicKey,
      spk.spkId,
      spk.publicKey,
      spk.signature,
      device.createdAt,
    );
    for (const opk of opks) this.stmt.insertOpk.run(device.userId, device.deviceId, opk.opkId, opk.publicKey);
  }

  async createUser(user: UserRecord, device: DeviceRecord, opks: OneTimePreKeyRecord[]): Promise<boolean> {
    return this.db.transaction(() => {
      if (this.stmt.getUser.get(user.userId)) return false;
      this.stmt.insertUser.run(user.userId, user.userName, user.createdAt);
      this.insertDeviceRow(device, opks);
      return true;
    })();
  }

  async addDevice(device: DeviceRecord, opks: OneTimePreKeyRecord[], messages: NewQueuedMessage[], options: AddDeviceOptions): Promise<AddDeviceResult> {
    return this.db.transaction((): AddDeviceResult => {
      if (!this.stmt.getUser.get(device.userId) || this.stmt.getDevice.get(device.userId, device.deviceId)) return { ok: false, reason: 'exists' };
      if ((this.stmt.countDevices.get(device.userId) as { n: number }).n >= options.maxDevices) return { ok: false, reason: 'too-many' };
      this.insertDeviceRow(device, opks);
      return { ok: true, queued: this.insertMessages(messages) };
    })();
  }

  async getUser(userId: string): Promise<UserRecord | undefined> {
    const row = this.stmt.getUser.get(userId) as { user_id: string; user_name: string; created_at: number } | undefined;
    return row ? { userId: row.user_id, userName: row.user_name, createdAt: row.created_at } : undefined;
  }

  async setUserName(userId: string, userName: string): Promise<void> {
    this.stmt.setUserName.run(userName, userId);
  }

  async getDevice(userId: string, deviceId: string): Promise<DeviceRecord | undefined> {
    const row = this.stmt.getDevice.get(userId, deviceId) as DeviceRow | undefined;
    return row ? deviceFromRow(row) : undefined;
  }

  async findDeviceBySignKey(signPublicKey: Uint8Array): Promise<DeviceRecord | undefined> {
    const row = this.stmt.findDeviceBySignKey.get(signPublicKey) as DeviceRow | undefined;
    return row ? deviceFromRow(row) : undefined;
  }

  async listDevices(userId: string): Promise<DeviceRecord[]> {
    return (this.stmt.listDevices.all(userId) as DeviceRow[]).map(deviceFromRow);
  }

  async listAllDevices(): Promise<GroupDeviceRecord[]> {
    return (this.stmt.listAllDevices.all() as { user_id: string; device_id: string }[]).map((r) => ({ userId: r.user_id, deviceId: r.device_id }));
  }

  async replaceSignedPreKey(userId: string, deviceId: string, spk: SignedPreKeyRecord): Promise<void> {
    this.stmt.replaceSpk.run(spk.spkId, spk.publicKey, spk.signature, userId, deviceId);
  }

  private countOpks(userId: string, deviceId: string): number {
    return (this.stmt.countOpks.get(userId, deviceId) as { n: number }).n;
  }

  async addOneTimePreKeys(userId: string, deviceId: string, opks: OneTimePreKeyRecord[], maxTotal: number, lowThreshold: number): Promise<SupplyResult> {
    return this.db.transaction((): SupplyResult => {
      const available = this.countOpks(userId, deviceId);
      if (opks.some((opk) => this.stmt.hasOpk.get(userId, deviceId, opk.opkId))) return { ok: false, reason: 'duplicate', available };
      if (available + opks.length > maxTotal) return { ok: false, reason: 'too-many', available };
      for (const opk of opks) this.stmt.insertOpk.run(userId, deviceId, opk.opkId, opk.publicKey);
      const now = available + opks.length;
      if (now >= lowThreshold) this.stmt.setSupplyRequested.run(0, userId, deviceId);
      return { ok: true, available: now };
    })();
  }

  async takeOneTimePreKey(userId: string, deviceId: string, lowThreshold: number, supplyNotice: (remaining: number) => NewQueuedMessage): Promise<TakeOpkResult> {
    return this.db.transaction((): TakeOpkResult => {
      const row = this.stmt.firstOpk.get(userId, deviceId) as { opk_id: number; public_key: Buffer } | undefined;
      if (row) this.stmt.deleteOpk.run(userId, deviceId, row.opk_id);
      const remaining = this.countOpks(userId, deviceId);
      let supplyRequested = false;
      let queued: QueuedRef[] = [];
      if (remaining < lowThreshold) {
        const flag = this.stmt.getSupplyRequested.get(userId, deviceId) as { r: number } | undefined;
        if (flag && flag.r === 0) {
          // A notice skipped for a full queue leaves the device unmarked, so a later take asks again.
          queued = this.insertMessages([supplyNotice(remaining)]);
          if (queued.length > 0) {
            this.stmt.setSupplyRequested.run(1, userId, deviceId);
            supplyRequested = true;
          }
        }
      }
      return { opk: row ? { opkId: row.opk_id, publicKey: bytes(row.public_key) } : undefined, remaining, supplyRequested, queued };
    })();
  }

  async countOneTimePreKeys(userId: string, deviceId: string): Promise<number> {
    return this.countOpks(userId, deviceId);
  }

  async addContact(watcherUserId: string, watchedUserId: string, now: number, maxContacts: number): Promise<boolean> {
    return this.db.transaction((): boolean => {
      if (this.stmt.hasContact.get(watchedUserId, watcherUserId)) return true;
      if ((this.stmt.countWatched.get(watcherUserId) as { n: number }).n >= maxContacts) return false;
      if ((this.stmt.countWatchers.get(watchedUserId) as { n: number }).n >= maxContacts) return false;
      this.stmt.insertContact.run(watchedUserId, watcherUserId, now);
      return true;
    })();
  }

  async listWatchers(watchedUserId: string): Promise<string[]> {
    return (this.stmt.listWatchers.all(watchedUserId) as { w: string }[]).map((r) => r.w);
  }

  async getGroup(groupId: string): Promise<GroupRecord | undefined> {
    const row = this.stmt.getGroup.get(groupId) as { group_id: string; group_name: string; epoch: number; version: number; created_at: number } | undefined;
    if (!row) return undefined;
    const members = (this.stmt.getMembers.all(groupId) as { user_id: string; role: 'manager' | 'member'; state: 'active' | 'left'; joined_order: number }[]).map((m) => ({
      userId: m.user_id,
      role: m.role,
      state: m.state,
      joinedOrder: m.joined_order,
    }));
    const devices = (this.stmt.getGroupDevices.all(groupId) as { user_id: string; device_id: string }[]).map((d) => ({ userId: d.user_id, deviceId: d.device_id }));
    return { groupId: row.group_id, groupName: row.group_name, epoch: row.epoch, version: row.version, createdAt: row.created_at, members, devices };
  }

  async getGroupEpoch(groupId: string, epoch: number): Promise<GroupEpochRecord | undefined> {
    return this.db.transaction((): GroupEpochRecord | undefined => {
      const row = this.stmt.getGroupEpoch.get(groupId, epoch) as { devices: string } | undefined;
      if (!row) return undefined;
      const devices: GroupEpochDeviceRecord[] = (JSON.parse(row.devices) as [string, string][]).map(([userId, deviceId]) => {
        const device = this.stmt.getDevice.get(userId, deviceId) as DeviceRow | undefined;
        // Devices are never deleted: a missing one is a damaged database, not an answer to give.
        if (!device) throw new Error(`group ${groupId} epoch ${epoch} lists an unknown device`);
        return { userId, deviceId, suiteId: device.suite_id, signPublicKey: bytes(device.sign_public_key), kemPublicKey: bytes(device.kem_public_key) };
      });
      return { epoch, devices };
    })();
  }

  /** Records `group.epoch` with its routed devices (devices of active members) and prunes old epochs. */
  private recordEpoch(group: GroupRecord): void {
    const active = new Set(group.members.filter((m) => m.state === 'active').map((m) => m.userId));
    const devices = group.devices.filter((d) => active.has(d.userId)).map((d) => [d.userId, d.deviceId]);
    this.stmt.putGroupEpoch.run(group.groupId, group.epoch, JSON.stringify(devices));
    this.stmt.pruneGroupEpochs.run(group.groupId, group.epoch - this.groupEpochHistory);
  }

  private writeMembership(group: GroupRecord): void {
    this.stmt.deleteMembers.run(group.groupId);
    this.stmt.deleteGroupDevices.run(group.groupId);
    for (const m of group.members) this.stmt.insertMember.run(group.groupId, m.userId, m.role, m.state, m.joinedOrder);
    for (const d of group.devices) this.stmt.insertGroupDevice.run(group.groupId, d.userId, d.deviceId);
  }

  async createGroup(group: GroupRecord, messages: NewQueuedMessage[]): Promise<{ ok: boolean; queued: QueuedRef[] }> {
    return this.db.transaction(() => {
      if (this.stmt.getGroup.get(group.groupId)) return { ok: false, queued: [] };
      this.stmt.insertGroup.run(group.groupId, group.groupName, group.epoch, 1, group.createdAt);
      this.writeMembership(group);
      this.recordEpoch(group);
      return { ok: true, queued: this.insertMessages(messages) };
    })();
  }

  async saveGroup(group: GroupRecord, expectedVersion: number, messages: NewQueuedMessage[]): Promise<SaveGroupResult> {
    const result = this.db.transaction((): SaveGroupResult | undefined => {
      const stored = this.stmt.getGroupEpochNumber.get(group.groupId) as { epoch: number } | undefined;
      const info = this.stmt.updateGroup.run(group.groupName, group.epoch, expectedVersion + 1, group.groupId, expectedVersion);
      if (info.changes !== 1) return undefined;
      this.writeMembership(group);
      if (stored?.epoch !== group.epoch) this.recordEpoch(group);
      return { ok: true, queued: this.insertMessages(messages) };
    })();
    return result ?? { ok: false, current: await this.getGroup(group.groupId) };
  }

  async countQueued(userId: string, deviceId: string, now: number): Promise<number> {
    return (this.stmt.countLimited.get(userId, deviceId, now) as { n: number }).n;
  }

  async enqueue(messages: NewQueuedMessage[], options: EnqueueOptions): Promise<EnqueueResult> {
    return this.db.transaction((): EnqueueResult => {
      const extra = new Map<string, { device: { userId: string; deviceId: string }; n: number }>();
      for (const m of messages) {
        if (!m.limited) continue;
        const key = `${m.userId}\u0000${m.deviceId}`;
        const entry = extra.get(key) ?? { device: { userId: m.userId, deviceId: m.deviceId }, n: 0 };
        entry.n++;
        extra.set(key, entry);
      }
      for (const { device, n } of extra.values()) {
        const queued = (this.stmt.countLimited.get(device.userId, device.deviceId, options.now) as { n: number }).n;
        if (queued + n > options.queueLimit) return { ok: false, fullDevice: device };
      }
      const skipped: GroupDeviceRecord[] = [];
      const queued = this.insertMessages(messages, skipped);
      return { ok: true, queued, skipped };
    })();
  }

  async listQueued(userId: string, deviceId: string, afterSeq: number, now: number, limit: number): Promise<QueuedMessage[]> {
    return (this.stmt.listQueued.all(userId, deviceId, afterSeq, now, limit) as { seq: number; user_id: string; device_id: string; body: Buffer; queued_at: number }[]).map(
      (r) => ({
        seq: r.seq,
        userId: r.user_id,
        deviceId: r.device_id,
        body: bytes(r.body),
        queuedAt: r.queued_at,
      }),
    );
  }

  async consume(userId: string, deviceId: string, seq: number): Promise<boolean> {
    return this.stmt.consume.run(seq, userId, deviceId).changes === 1;
  }

  async deleteExpired(now: number): Promise<number> {
    return this.stmt.deleteExpired.run(now).changes;
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
