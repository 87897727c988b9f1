/** The SQLite store's prepared statements and row conversions. */
import type BetterSqlite3 from 'better-sqlite3';
import type { DeviceRecord } from '../types.js';

export type Database = BetterSqlite3.Database;

export interface DeviceRow {
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

export const bytes = (b: Buffer): Uint8Array => new Uint8Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));

export function deviceFromRow(row: DeviceRow): DeviceRecord {
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

/** The SQL of every statement the store runs, by name. */
const STATEMENTS = {
  insertUser: 'INSERT INTO users (user_id, user_name, created_at) VALUES (?, ?, ?)',
  getUser: 'SELECT user_id, user_name, created_at FROM users WHERE user_id = ?',
  setUserName: 'UPDATE users SET user_name = ? WHERE user_id = ?',
  insertDevice: `INSERT INTO devices (user_id, device_id, suite_id, sign_public_key, kem_public_key, spk_id, spk_public_key, spk_signature, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  getDevice: 'SELECT * FROM devices WHERE user_id = ? AND device_id = ?',
  findDeviceBySignKey: 'SELECT * FROM devices WHERE sign_public_key = ? LIMIT 1',
  listDevices: 'SELECT * FROM devices WHERE user_id = ? ORDER BY created_at, device_id',
  countDevices: 'SELECT COUNT(*) AS n FROM devices WHERE user_id = ?',
  listAllDevices: 'SELECT user_id, device_id FROM devices ORDER BY user_id, device_id',
  replaceSpk: 'UPDATE devices SET spk_id = ?, spk_public_key = ?, spk_signature = ? WHERE user_id = ? AND device_id = ?',
  insertOpk: 'INSERT INTO one_time_pre_keys (user_id, device_id, opk_id, public_key) VALUES (?, ?, ?, ?)',
  hasOpk: 'SELECT 1 FROM one_time_pre_keys WHERE user_id = ? AND device_id = ? AND opk_id = ?',
  countOpks: 'SELECT COUNT(*) AS n FROM one_time_pre_keys WHERE user_id = ? AND device_id = ?',
  firstOpk: 'SELECT opk_id, public_key FROM one_time_pre_keys WHERE user_id = ? AND device_id = ? ORDER BY opk_id LIMIT 1',
  deleteOpk: 'DELETE FROM one_time_pre_keys WHERE user_id = ? AND device_id = ? AND opk_id = ?',
  getSupplyRequested: 'SELECT supply_requested AS r FROM devices WHERE user_id = ? AND device_id = ?',
  setSupplyRequested: 'UPDATE devices SET supply_requested = ? WHERE user_id = ? AND device_id = ?',
  insertContact: 'INSERT OR IGNORE INTO contacts (watched_user_id, watcher_user_id, created_at) VALUES (?, ?, ?)',
  hasContact: 'SELECT 1 FROM contacts WHERE watched_user_id = ? AND watcher_user_id = ?',
  countWatchers: 'SELECT COUNT(*) AS n FROM contacts WHERE watched_user_id = ?',
  countWatched: 'SELECT COUNT(*) AS n FROM contacts WHERE watcher_user_id = ?',
  listWatchers: 'SELECT watcher_user_id AS w FROM contacts WHERE watched_user_id = ? ORDER BY created_at, watcher_user_id',
  getGroup: 'SELECT * FROM chat_groups WHERE group_id = ?',
  getMembers: 'SELECT user_id, role, state, joined_order FROM group_members WHERE group_id = ? ORDER BY joined_order',
  getGroupDevices: 'SELECT user_id, device_id FROM group_devices WHERE group_id = ? ORDER BY user_id, device_id',
  insertGroup: 'INSERT INTO chat_groups (group_id, group_name, epoch, version, created_at) VALUES (?, ?, ?, ?, ?)',
  updateGroup: 'UPDATE chat_groups SET group_name = ?, epoch = ?, version = ? WHERE group_id = ? AND version = ?',
  deleteMembers: 'DELETE FROM group_members WHERE group_id = ?',
  deleteGroupDevices: 'DELETE FROM group_devices WHERE group_id = ?',
  insertMember: 'INSERT INTO group_members (group_id, user_id, role, state, joined_order) VALUES (?, ?, ?, ?, ?)',
  insertGroupDevice: 'INSERT INTO group_devices (group_id, user_id, device_id) VALUES (?, ?, ?)',
  getGroupEpochNumber: 'SELECT epoch FROM chat_groups WHERE group_id = ?',
  putGroupEpoch: 'INSERT OR REPLACE INTO group_epochs (group_id, epoch, devices) VALUES (?, ?, ?)',
  pruneGroupEpochs: 'DELETE FROM group_epochs WHERE group_id = ? AND epoch <= ?',
  getGroupEpoch: 'SELECT devices FROM group_epochs WHERE group_id = ? AND epoch = ?',
  insertMessage: 'INSERT INTO messages (user_id, device_id, body, queued_at, expires_at, limited, coalesce_key) VALUES (?, ?, ?, ?, ?, ?, ?)',
  deleteCoalesced: 'DELETE FROM messages WHERE user_id = ? AND device_id = ? AND coalesce_key = ? RETURNING expires_at',
  countLimited: 'SELECT COUNT(*) AS n FROM messages WHERE user_id = ? AND device_id = ? AND expires_at > ?',
  listQueued: 'SELECT seq, user_id, device_id, body, queued_at FROM messages WHERE user_id = ? AND device_id = ? AND seq > ? AND expires_at > ? ORDER BY seq LIMIT ?',
  consume: 'DELETE FROM messages WHERE seq = ? AND user_id = ? AND device_id = ?',
  deleteExpired: 'DELETE FROM messages WHERE expires_at <= ?',
} as const;

/** The prepared statements of one database. */
export type Statements = { readonly [Name in keyof typeof STATEMENTS]: BetterSqlite3.Statement };

/** Prepares every statement once per database. */
export function prepareStatements(db: Database): Statements {
  return Object.fromEntries(Object.entries(STATEMENTS).map(([name, sql]) => [name, db.prepare(sql)])) as Statements;
}
