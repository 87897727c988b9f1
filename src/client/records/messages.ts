/**
 * Received messages: the history messages() returns, indexed by what is not delivered yet (handed
 * to the app at the next chance) and by expiry (disappearing messages).
 */
import { toBinary } from '@bufbuild/protobuf';
import type { KeyValueTransaction } from '../../store/database.js';
import { StoredMessageSchema, type StoredMessage } from '../../proto/gen/client_pb.js';
import { getMessage, listMessages, NS, sortable } from './keys.js';
import type { MetaRecords } from './meta.js';

const EXPIRING_NEXT = 'expiring-next';

export class MessageRecords {
  constructor(
    private readonly tx: KeyValueTransaction,
    private readonly meta: MetaRecords,
  ) {}

  /** Stores a received message, not yet delivered (indexed so delivery does not scan the history). */
  async put(message: StoredMessage): Promise<string> {
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
      const next = await this.meta.get(EXPIRING_NEXT);
      if (next === undefined || next === '' || BigInt(next) > message.expiresAt) await this.meta.put(EXPIRING_NEXT, message.expiresAt.toString());
    }
  }
  /**
   * Deletes delivered disappearing messages whose time is up; returns how many. The earliest expiry
   * is kept in meta, so the once-a-second call reads one record until something is due (a sender
   * decides how many disappearing messages this device holds).
   */
  async purgeExpired(now: bigint): Promise<number> {
    const next = await this.meta.get(EXPIRING_NEXT);
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
    await this.meta.put(EXPIRING_NEXT, following === undefined ? '' : following.toString());
    return purged;
  }
  list(): Promise<Array<{ key: string; value: StoredMessage }>> {
    return listMessages(this.tx, StoredMessageSchema, NS.messages);
  }
  /** Deletes a stored message (and its indexes). */
  async delete(key: string, message: StoredMessage): Promise<void> {
    await this.tx.delete(NS.messages, key);
    await this.tx.delete(NS.undelivered, key);
    if (message.expiresAt > 0n) await this.tx.delete(NS.expiring, `${sortable(message.expiresAt)}/${key}`);
  }
}
