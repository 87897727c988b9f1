/**
 * What every repository of the runtime's records shares: the namespaces (their names are the stored
 * format: existing databases depend on them), the key encodings and typed reads. One namespace per
 * kind of state; every record is protobuf (src/proto/client.proto, state.proto) so it is versionable.
 */
import { fromBinary, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import type { KeyValueTransaction } from '../../store/database.js';

export const NS = {
  account: 'account',
  meta: 'meta',
  /** Before sessions were keyed by peer: session id → state (migrated at start-up, see SessionRecords.migrateLegacy). */
  legacySessions: 'sessions',
  sessions: 'peer-sessions',
  devices: 'devices',
  groupSessions: 'group-sessions',
  groups: 'groups',
  pending: 'pending',
  /** Pending plaintexts in the order they were queued (for expiry), see PendingRecords.purge. */
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

/** A zero-padded decimal so keys sort in numeric order. */
export function sortable(n: number | bigint): string {
  return n.toString().padStart(20, '0');
}

export async function getMessage<D extends DescMessage>(tx: KeyValueTransaction, schema: D, ns: string, key: string): Promise<MessageShape<D> | undefined> {
  const bytes = await tx.get(ns, key);
  return bytes ? fromBinary(schema, bytes) : undefined;
}

export async function listMessages<D extends DescMessage>(tx: KeyValueTransaction, schema: D, ns: string, prefix = ''): Promise<Array<{ key: string; value: MessageShape<D> }>> {
  const rows = await tx.list(ns);
  return rows.filter((r) => r.key.startsWith(prefix)).map((r) => ({ key: r.key, value: fromBinary(schema, r.value) }));
}
