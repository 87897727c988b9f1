/**
 * Plaintexts waiting for a device whose session is not accepted yet: per device (counted, so the
 * bound costs no read of the backlog) and in one time queue (so expiry reads only what is due).
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import type { KeyValueTransaction } from '../../store/database.js';
import { PendingPlaintextSchema, type PendingPlaintext } from '../../proto/gen/client_pb.js';
import { deviceKey, listMessages, NS, sortable } from './keys.js';
import type { MetaRecords } from './meta.js';

const PENDING_QUEUE = 'pending-queue';

/** A time-queue entry of a pending plaintext: when it was queued and its record key. */
function pendingQueueEntry(queuedAt: bigint, key: string): Uint8Array {
  return new TextEncoder().encode(`${queuedAt}\n${key}`);
}

function parsePendingQueueEntry(bytes: Uint8Array): { queuedAt: bigint; key: string } {
  const text = new TextDecoder().decode(bytes);
  const newline = text.indexOf('\n');
  return { queuedAt: BigInt(text.slice(0, newline)), key: text.slice(newline + 1) };
}
function pendingCountKey(userId: string, deviceId: string): string {
  return `pending-count/${deviceKey(userId, deviceId)}`;
}

export class PendingRecords {
  constructor(
    private readonly tx: KeyValueTransaction,
    private readonly meta: MetaRecords,
  ) {}

  /** Queues a plaintext for a device whose session is not accepted yet (counted, and queued by time for expiry). */
  async add(pending: Omit<PendingPlaintext, '$typeName' | '$unknown'>): Promise<void> {
    const seq = await this.meta.nextSequence();
    const record = create(PendingPlaintextSchema, pending);
    const count = await this.count(pending.userId, pending.deviceId);
    const key = `${deviceKey(pending.userId, pending.deviceId)}/${sortable(seq)}`;
    await this.tx.put(NS.pending, key, toBinary(PendingPlaintextSchema, record));
    await this.meta.put(pendingCountKey(pending.userId, pending.deviceId), String(count + 1));
    const queue = await this.queue();
    await this.tx.put(NS.pendingQueue, sortable(queue.tail), pendingQueueEntry(pending.queuedAt, key));
    await this.meta.put(PENDING_QUEUE, `${queue.head},${queue.tail + 1}`);
  }
  /**
   * How many plaintexts wait for this device: a counter kept beside them, so that checking the
   * bound does not read the backlog (counted once for a store written before the counter existed).
   */
  async count(userId: string, deviceId: string): Promise<number> {
    const stored = await this.meta.get(pendingCountKey(userId, deviceId));
    if (stored !== undefined) return Number(stored);
    const counted = (await this.tx.list(NS.pending)).filter((r) => r.key.startsWith(`${deviceKey(userId, deviceId)}/`)).length;
    await this.meta.put(pendingCountKey(userId, deviceId), String(counted));
    return counted;
  }
  /** Removes and returns the plaintexts waiting for this device, oldest first (their queue entries are skipped later). */
  async take(userId: string, deviceId: string): Promise<PendingPlaintext[]> {
    const rows = await listMessages(this.tx, PendingPlaintextSchema, NS.pending, `${deviceKey(userId, deviceId)}/`);
    for (const row of rows) await this.tx.delete(NS.pending, row.key);
    await this.tx.delete(NS.meta, pendingCountKey(userId, deviceId));
    return rows.map((r) => r.value);
  }
  /**
   * Drops plaintexts queued before `before` (ms since the epoch); returns how many per device. The
   * time queue is read from its head: while nothing is due that is two small records, and otherwise
   * one queue entry and one plaintext per copy dropped, however many wait.
   */
  async purge(before: bigint): Promise<Array<{ userId: string; deviceId: string; count: number }>> {
    const queue = await this.queue();
    const dropped = new Map<string, { userId: string; deviceId: string; count: number }>();
    let head = queue.head;
    for (; head < queue.tail; head++) {
      const entry = await this.tx.get(NS.pendingQueue, sortable(head));
      if (!entry) continue;
      const { queuedAt, key } = parsePendingQueueEntry(entry);
      if (queuedAt >= before) break;
      await this.tx.delete(NS.pendingQueue, sortable(head));
      const bytes = await this.tx.get(NS.pending, key);
      if (!bytes) continue; // sent since (its device accepted)
      const value = fromBinary(PendingPlaintextSchema, bytes);
      await this.tx.delete(NS.pending, key);
      const device = deviceKey(value.userId, value.deviceId);
      const counted = dropped.get(device) ?? { userId: value.userId, deviceId: value.deviceId, count: 0 };
      counted.count++;
      dropped.set(device, counted);
    }
    if (head !== queue.head) await this.meta.put(PENDING_QUEUE, `${head},${queue.tail}`);
    for (const entry of dropped.values()) {
      const left = (await this.count(entry.userId, entry.deviceId)) - entry.count;
      await this.meta.put(pendingCountKey(entry.userId, entry.deviceId), String(Math.max(0, left)));
    }
    return [...dropped.values()];
  }
  /** The pending plaintexts' time queue: [head, tail) (indexed once for a store written before it existed). */
  private async queue(): Promise<{ head: number; tail: number }> {
    const stored = await this.meta.get(PENDING_QUEUE);
    if (stored !== undefined) {
      const [head, tail] = stored.split(',').map(Number) as [number, number];
      return { head, tail };
    }
    const rows = (await listMessages(this.tx, PendingPlaintextSchema, NS.pending)).sort((a, b) =>
      a.value.queuedAt < b.value.queuedAt ? -1 : a.value.queuedAt > b.value.queuedAt ? 1 : 0,
    );
    for (const [i, row] of rows.entries()) await this.tx.put(NS.pendingQueue, sortable(i), pendingQueueEntry(row.value.queuedAt, row.key));
    await this.meta.put(PENDING_QUEUE, `0,${rows.length}`);
    return { head: 0, tail: rows.length };
  }
}
