/** Ids of the server's ProtoMsgs this device has processed (a replay is recognised and only consumed). */
import type { KeyValueTransaction } from '../../store/database.js';
import { NS } from './keys.js';

/** Processed-id keys sort in id order when ids are decimal (the reference server's are). */
function processedKey(protoMsgId: string): string {
  return /^[0-9]{1,20}$/.test(protoMsgId) ? protoMsgId.padStart(20, '0') : `~${protoMsgId}`;
}

export class ProcessedRecords {
  constructor(private readonly tx: KeyValueTransaction) {}

  async has(protoMsgId: string): Promise<boolean> {
    return (await this.tx.get(NS.processed, processedKey(protoMsgId))) !== undefined;
  }
  mark(protoMsgId: string): Promise<void> {
    return this.tx.put(NS.processed, processedKey(protoMsgId), new Uint8Array(0));
  }
  /**
   * Keeps the newest `keep` processed ids. They outlive the consume on purpose: a stream that
   * reconnects while a consume is on its way can replay a message once more, and it must be
   * recognised then too.
   */
  async prune(keep: number): Promise<void> {
    const rows = await this.tx.list(NS.processed);
    for (const row of rows.slice(0, Math.max(0, rows.length - keep))) await this.tx.delete(NS.processed, row.key);
  }
}
