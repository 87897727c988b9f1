/** The SQLite store's schema: ordered migrations, and running the ones a database has not had yet. */
import type BetterSqlite3 from 'better-sqlite3';

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
  // 5: the security audit log (docs/audit.md): entries, Merkle nodes, the writer state (one row)
  // and which entry published each device's identity keys (key transparency).
  `CREATE TABLE audit_entries (idx INTEGER PRIMARY KEY, entry BLOB NOT NULL);
   CREATE TABLE audit_nodes (level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL, PRIMARY KEY (level, idx));
   CREATE TABLE audit_writer (id INTEGER PRIMARY KEY CHECK (id = 1), state BLOB NOT NULL);
   CREATE TABLE audit_key_entries (user_id TEXT NOT NULL, device_id TEXT NOT NULL, idx INTEGER NOT NULL, PRIMARY KEY (user_id, device_id));`,
];

/** Runs the migrations `db` has not had yet, each in its own transaction. */
export function migrate(db: BetterSqlite3.Database): void {
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
