/** The outbox: encrypted requests, in the order they were made, until the server took them. */
import { create, toBinary } from '@bufbuild/protobuf';
import type { KeyValueTransaction } from '../../store/database.js';
import { OutboxEntrySchema, type OutboxEntry } from '../../proto/gen/client_pb.js';
import { deviceKey, listMessages, NS, sortable, type PeerDevice } from './keys.js';
import type { MetaRecords } from './meta.js';

export class OutboxRecords {
  constructor(
    private readonly tx: KeyValueTransaction,
    private readonly meta: MetaRecords,
  ) {}

  async add(entry: OutboxEntry['request']): Promise<string> {
    const seq = await this.meta.nextSequence();
    await this.tx.put(NS.outbox, sortable(seq), toBinary(OutboxEntrySchema, create(OutboxEntrySchema, { request: entry })));
    return sortable(seq);
  }
  /**
   * Queues an AcceptMsg to `peer`, keeping at most `keep` unsent accepts to that device: anyone can
   * invite this device again and again (each accept is queued automatically), and only the newest
   * sessions with a device are kept anyway, so older accepts could only pile up behind a peer that
   * never takes them.
   */
  async addAccept(peer: PeerDevice, entry: OutboxEntry['request'], keep: number): Promise<void> {
    const key = await this.add(entry);
    const metaKey = `outbox-accepts/${deviceKey(peer.userId, peer.deviceId)}`;
    const queued = [...((await this.meta.get(metaKey)) ?? '').split(',').filter((k) => k !== ''), key];
    while (queued.length > keep) await this.tx.delete(NS.outbox, queued.shift() as string);
    await this.meta.put(metaKey, queued.join(','));
  }
  list(): Promise<Array<{ key: string; value: OutboxEntry }>> {
    return listMessages(this.tx, OutboxEntrySchema, NS.outbox);
  }
  delete(key: string): Promise<void> {
    return this.tx.delete(NS.outbox, key);
  }
}
