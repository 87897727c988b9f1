/**
 * Typed access to what the runtime stores through the database handler: one repository per kind of
 * state (src/client/records/), all over the one database transaction passed in by the caller, so a
 * step that touches several kinds (a session, the message it decrypted, the processed id) commits
 * or rolls back as one. Every record is protobuf (src/proto/client.proto, state.proto) so it is
 * versionable; namespaces and keys are in records/keys.ts.
 */
import type { KeyValueTransaction } from '../store/database.js';
import { DeviceRecords } from './records/devices.js';
import { GroupRecords } from './records/groups.js';
import { HeldRecords } from './records/held.js';
import { AccountRecords, MetaRecords } from './records/meta.js';
import { MessageRecords } from './records/messages.js';
import { OutboxRecords } from './records/outbox.js';
import { PendingRecords } from './records/pending.js';
import { ProcessedRecords } from './records/processed.js';
import { SessionRecords } from './records/sessions.js';

export { deviceKey, type PeerDevice } from './records/keys.js';
export type { HeldBound, HeldEntry, HeldEviction, HeldLimits } from './records/held.js';

/** Typed records of one transaction. */
export class Records {
  /** This device's account (secret keys). */
  readonly account: AccountRecords;
  /** Small named values: counters, queue heads, flags. */
  readonly meta: MetaRecords;
  /** One-to-one session states, under their peer device. */
  readonly sessions: SessionRecords;
  /** Known peer devices: identity keys, sessions, vouching. */
  readonly devices: DeviceRecords;
  /** Group sessions and group records, and the bound on records of groups not joined. */
  readonly groups: GroupRecords;
  /** Group messages waiting for their epoch's bundle. */
  readonly held: HeldRecords;
  /** Plaintexts waiting for a device's session to be accepted. */
  readonly pending: PendingRecords;
  /** Encrypted requests not yet taken by the server. */
  readonly outbox: OutboxRecords;
  /** ProtoMsg ids already processed. */
  readonly processed: ProcessedRecords;
  /** Received messages (the history). */
  readonly messages: MessageRecords;

  constructor(readonly tx: KeyValueTransaction) {
    this.account = new AccountRecords(tx);
    this.meta = new MetaRecords(tx);
    this.sessions = new SessionRecords(tx);
    this.devices = new DeviceRecords(tx, this.sessions);
    this.held = new HeldRecords(tx);
    this.groups = new GroupRecords(tx, this.meta, this.held);
    this.pending = new PendingRecords(tx, this.meta);
    this.outbox = new OutboxRecords(tx, this.meta);
    this.processed = new ProcessedRecords(tx);
    this.messages = new MessageRecords(tx, this.meta);
  }
}
