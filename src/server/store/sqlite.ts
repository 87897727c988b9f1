/**
 * SQLite backend of {@link ServerStore} (better-sqlite3, one file, WAL, synchronous=FULL). Every
 * method runs as one synchronous transaction, so concurrent requests in this process never
 * interleave inside one (one-time pre-keys are handed out once, group changes compare-and-set).
 */
import type BetterSqlite3 from 'better-sqlite3';
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
} from './types.js';

/** Ordered schema migrations; `PRAGMA user_version` holds how many have run. */
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE users (
     user_id TEXT PRIMARY KEY,
     user_name TEXT NOT NULL,
     created_at INTEGER NOT NULL
   );
   CREATE TABLE devices (
     user_id TEXT NOT NULL REFERENCES users(user_id),
     device_id TEXT NOT NULL,
     suite_id INTEGER NOT NULL,
     sign_public_key BLOB NOT NULL,
     kem_public_key BLOB NOT NULL,
     spk_id INTEGER NOT NULL,
     spk_public_key BLOB NOT NULL,
     spk_signature BLOB NOT NULL,
     supply_requested INTEGER NOT NULL DEFAULT 0,
     created_at INTEGER NOT NULL,
     PRIMARY KEY (user_id, device_id)
   );
   CREATE TABLE one_time_pre_keys (
     user_id TEXT NOT NULL,
     device_id TEXT NOT NULL,
     opk_id INTEGER NOT NULL,
     public_key BLOB NOT NULL,
     PRIMARY KEY (user_id, device_id, opk_id),
     FOREIGN KEY (user_id, device_id) REFERENCES devices(user_id, device_id)
   );
   CREATE TABLE contacts (
     watched_user_id TEXT NOT NULL,
     watcher_user_id TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     PRIMARY KEY (watched_user_id, watcher_user_id)
   );
   CREATE TABLE chat_groups (
     group_id TEXT PRIMARY KEY,
     group_name TEXT NOT NULL,
     epoch INTEGER NOT NULL,
     version INTEGER NOT NULL,
     created_at INTEGER NOT NULL
   );
   CREATE TABLE group_members (
     group_id TEXT NOT NULL REFERENCES chat_groups(group_id),
     user_id TEXT NOT NULL,
     role TEXT NOT NULL CHECK (role IN ('manager', 'member')),
     state TEXT NOT NULL CHECK (state IN ('active', 'left')),
     joined_order INTEGER NOT NULL,
     PRIMARY KEY (group_id, user_id)
   );
   CREATE TABLE group_devices (
     group_id TEXT NOT NULL REFERENCES chat_groups(group_id),
     user_id TEXT NOT NULL,
     device_id TEXT NOT NULL,
     PRIMARY KEY (group_id, user_id, device_id)
   );
   CREATE TABLE messages (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     user_id TEXT NOT NULL,
     device_id TEXT NOT NULL,
     body BLOB NOT NULL,
     queued_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL,
     limited INTEGER NOT NULL
   );
   CREATE INDEX messages_by_device ON messages (user_id, device_id, seq);
   CREATE INDEX messages_by_expiry ON messages (expires_at);`,
  // 2: look devices up by identity key (a registration repeated after a client crash finds its device).
  `CREATE INDEX devices_by_sign_key ON devices (sign_public_key);`,
  // 3: bounded server notices: at most one unconsumed message per (device, coalesce key), e.g. one
  // UpdateUserMsg per user it is about; contacts counted per watcher (a user watches a bounded number).
  `ALTER TABLE messages ADD COLUMN coalesce_key TEXT;
   CREATE UNIQUE INDEX messages_by_coalesce_key ON messages (user_id, device_id, coalesce_key) WHERE coalesce_key IS NOT NULL;
   CREATE INDEX contacts_by_watcher ON contacts (watcher_user_id);`,
  // 4: the devices the server placed in each group at each of its newest epochs (GetGroupEpoch), as a
  // JSON array of [user_id, device_id]. Groups that exist already get their current epoch with the
  // devices of their active members now (what they were at that epoch unless a member left since).
  `CREATE TABLE group_epochs (
     group_id TEXT NOT NULL REFERENCES chat_groups(group_id),
     epoch INTEGER NOT NULL,
     devices TEXT NOT NULL,
     PRIMARY KEY (group_id, epoch)
   );
   INSERT INTO group_epochs (group_id, epoch, devices)
     SELECT g.group_id, g.epoch,
            (SELECT json_group_array(json_array(d.user_id, d.device_id)) FROM
               (SELECT gd.user_id, gd.device_id FROM group_devices gd
                  JOIN group_members m ON m.group_id = gd.group_id AND m.user_id = gd.user_id AND m.state = 'active'
                 WHERE gd.group_id = g.group_id ORDER BY gd.user_id, gd.device_id) AS d)
       FROM chat_groups g;`,
];

/** How many of a group's newest epochs the SQLite store keeps for GetGroupEpoch, by default. */
export const DEFAULT_GROUP_EPOCH_HISTORY = 32;

/** Options of {@link openSqliteStore}. */
export interface SqliteStoreOptions {
  /** Newest epochs kept per group in the epoch history (default {@link DEFAULT_GROUP_EPOCH_HISTORY}). */
  groupEpochHistory?: number;
}

/** Raised when better-sqlite3 (an optional dependency) is not installed. */
export class SqliteUnavailableError extends Error {
  readonly code = 'SQLITE_UNAVAILABLE';
}

type Database = BetterSqlite3.Database;

interface DeviceRow {
  user_id: string;
  device_id: string;
  suite_id: number;
  sign_public_key: Buffer;
  kem_public_key: Buffer;
  spk_id: number;
  spk_public_key: Buffer;
  spk_signature: Buffer;
  created_at: number;
}

const bytes = (b: Buffer): Uint8Array => new Uint8Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));

function deviceFromRow(row: DeviceRow): DeviceRecord {
  return {
    userId: row.user_id,
    deviceId: row.device_id,
    suiteId: row.suite_id,
    signPublicKey: bytes(row.sign_public_key),
    kemPublicKey: bytes(row.kem_public_key),
    signedPreKey: { spkId: row.spk_id, publicKey: bytes(row.spk_public_key), signature: bytes(row.spk_signature) },
    createdAt: row.created_at,
  };
}

/** Opens (creating and migrating if needed) a SQLite store at `path` (or ':memory:'). */
export async function openSqliteStore(path: string, options: SqliteStoreOptions = {}): Promise<SqliteStore> {
  const groupEpochHistory = options.groupEpochHistory ?? DEFAULT_GROUP_EPOCH_HISTORY;
  if (!Number.isSafeInteger(groupEpochHistory) || groupEpochHistory < 1) throw new RangeError('groupEpochHistory must be a positive integer');
  let DatabaseCtor: typeof BetterSqlite3;
  try {
    DatabaseCtor = ((await import('better-sqlite3')) as { default: typeof BetterSqlite3 }).default;
  } catch (error) {
    throw new SqliteUnavailableError(
      `the SQLite store needs the optional dependency better-sqlite3, which could not be loaded (${error instanceof Error ? error.message : String(error)}); install it with: npm install better-sqlite3`,
    );
  }
  const db = new DatabaseCtor(path);
  try {
    if (path !== ':memory:') db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    migrate(db);
  } catch (error) {
    db.close();
    throw error;
  }
  return new SqliteStore(db, groupEpochHistory);
}

function migrate(db: Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new Error(`database schema version ${current} is newer than this server (${MIGRATIONS.length})`);
  }
  for (let version = current; version < MIGRATIONS.length; version++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[version] as string);
      db.pragma(`user_version = ${version + 1}`);
    })();
  }
}

export class SqliteStore implements ServerStore {
  private readonly db: Database;
  private readonly stmt: ReturnType<SqliteStore['prepare']>;
  private readonly groupEpochHistory: number;

  constructor(db: Database, groupEpochHistory = DEFAULT_GROUP_EPOCH_HISTORY) {
    this.db = db;
    this.groupEpochHistory = groupEpochHistory;
    this.stmt = this.prepare();
  }

  private prepare() {
    const db = this.db;
    return {
      insertUser: db.prepare('INSERT INTO users (user_id, user_name, created_at) VALUES (?, ?, ?)'),
      getUser: db.prepare('SELECT user_id, user_name, created_at FROM users WHERE user_id = ?'),
      setUserName: db.prepare('UPDATE users SET user_name = ? WHERE user_id = ?'),
      insertDevice: db.prepare(
        `INSERT INTO devices (user_id, device_id, suite_id, sign_public_key, kem_public_key, spk_id, spk_public_key, spk_signature, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      getDevice: db.prepare('SELECT * FROM devices WHERE user_id = ? AND device_id = ?'),
      findDeviceBySignKey: db.prepare('SELECT * FROM devices WHERE sign_public_key = ? LIMIT 1'),
      listDevices: db.prepare('SELECT * FROM devices WHERE user_id = ? ORDER BY created_at, device_id'),
      countDevices: db.prepare('SELECT COUNT(*) AS n FROM devices WHERE user_id = ?'),
      listAllDevices: db.prepare('SELECT user_id, device_id FROM devices ORDER BY user_id, device_id'),
      replaceSpk: db.prepare('UPDATE devices SET spk_id = ?, spk_public_key = ?, spk_signature = ? WHERE user_id = ? AND device_id = ?'),
      insertOpk: db.prepare('INSERT INTO one_time_pre_keys (user_id, device_id, opk_id, public_key) VALUES (?, ?, ?, ?)'),
      hasOpk: db.prepare('SELECT 1 FROM one_time_pre_keys WHERE user_id = ? AND device_id = ? AND opk_id = ?'),
      countOpks: db.prepare('SELECT COUNT(*) AS n FROM one_time_pre_keys WHERE user_id = ? AND device_id = ?'),
      firstOpk: db.prepare('SELECT opk_id, public_key FROM one_time_pre_keys WHERE user_id = ? AND device_id = ? ORDER BY opk_id LIMIT 1'),
      deleteOpk: db.prepare('DELETE FROM one_time_pre_keys WHERE user_id = ? AND device_id = ? AND opk_id = ?'),
      getSupplyRequested: db.prepare('SELECT supply_requested AS r FROM devices WHERE user_id = ? AND device_id = ?'),
      setSupplyRequested: db.prepare('UPDATE devices SET supply_requested = ? WHERE user_id = ? AND device_id = ?'),
      insertContact: db.prepare('INSERT OR IGNORE INTO contacts (watched_user_id, watcher_user_id, created_at) VALUES (?, ?, ?)'),
      hasContact: db.prepare('SELECT 1 FROM contacts WHERE watched_user_id = ? AND watcher_user_id = ?'),
      countWatchers: db.prepare('SELECT COUNT(*) AS n FROM contacts WHERE watched_user_id = ?'),
      countWatched: db.prepare('SELECT COUNT(*) AS n FROM contacts WHERE watcher_user_id = ?'),
      listWatchers: db.prepare('SELECT watcher_user_id AS w FROM contacts WHERE watched_user_id = ? ORDER BY created_at, watcher_user_id'),
      getGroup: db.prepare('SELECT * FROM chat_groups WHERE group_id = ?'),
      getMembers: db.prepare('SELECT user_id, role, state, joined_order FROM group_members WHERE group_id = ? ORDER BY joined_order'),
      getGroupDevices: db.prepare('SELECT user_id, device_id FROM group_devices WHERE group_id = ? ORDER BY user_id, device_id'),
      insertGroup: db.prepare('INSERT INTO chat_groups (group_id, group_name, epoch, version, created_at) VALUES (?, ?, ?, ?, ?)'),
      updateGroup: db.prepare('UPDATE chat_groups SET group_name = ?, epoch = ?, version = ? WHERE group_id = ? AND version = ?'),
      deleteMembers: db.prepare('DELETE FROM group_members WHERE group_id = ?'),
      deleteGroupDevices: db.prepare('DELETE FROM group_devices WHERE group_id = ?'),
      insertMember: db.prepare('INSERT INTO group_members (group_id, user_id, role, state, joined_order) VALUES (?, ?, ?, ?, ?)'),
      insertGroupDevice: db.prepare('INSERT INTO group_devices (group_id, user_id, device_id) VALUES (?, ?, ?)'),
      getGroupEpochNumber: db.prepare('SELECT epoch FROM chat_groups WHERE group_id = ?'),
      putGroupEpoch: db.prepare('INSERT OR REPLACE INTO group_epochs (group_id, epoch, devices) VALUES (?, ?, ?)'),
      pruneGroupEpochs: db.prepare('DELETE FROM group_epochs WHERE group_id = ? AND epoch <= ?'),
      getGroupEpoch: db.prepare('SELECT devices FROM group_epochs WHERE group_id = ? AND epoch = ?'),
      insertMessage: db.prepare('INSERT INTO messages (user_id, device_id, body, queued_at, expires_at, limited, coalesce_key) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      deleteCoalesced: db.prepare('DELETE FROM messages WHERE user_id = ? AND device_id = ? AND coalesce_key = ? RETURNING expires_at'),
      countLimited: db.prepare('SELECT COUNT(*) AS n FROM messages WHERE user_id = ? AND device_id = ? AND expires_at > ?'),
      listQueued: db.prepare(
        'SELECT seq, user_id, device_id, body, queued_at FROM messages WHERE user_id = ? AND device_id = ? AND seq > ? AND expires_at > ? ORDER BY seq LIMIT ?',
      ),
      consume: db.prepare('DELETE FROM messages WHERE seq = ? AND user_id = ? AND device_id = ?'),
      deleteExpired: db.prepare('DELETE FROM messages WHERE expires_at <= ?'),
    };
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
