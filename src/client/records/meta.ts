/**
 * The account (one record) and the meta namespace: small named values (counters, queue heads,
 * flags) that the other repositories keep beside their records, and the sequence they number by.
 */
import type { KeyValueTransaction } from '../../store/database.js';
import { NS } from './keys.js';

/** The serialized account (src/protocol/account.ts), under one key. */
export class AccountRecords {
  constructor(private readonly tx: KeyValueTransaction) {}

  get(): Promise<Uint8Array | undefined> {
    return this.tx.get(NS.account, 'current');
  }
  put(bytes: Uint8Array): Promise<void> {
    return this.tx.put(NS.account, 'current', bytes);
  }
}

/** Named string values of the runtime (meta namespace). */
export class MetaRecords {
  constructor(private readonly tx: KeyValueTransaction) {}

  async get(key: string): Promise<string | undefined> {
    const bytes = await this.tx.get(NS.meta, key);
    return bytes ? new TextDecoder().decode(bytes) : undefined;
  }
  put(key: string, value: string): Promise<void> {
    return this.tx.put(NS.meta, key, new TextEncoder().encode(value));
  }
  /** The next number of the sequence that orders pending plaintexts and outbox entries. */
  async nextSequence(): Promise<bigint> {
    const next = BigInt((await this.get('sequence')) ?? '1');
    await this.put('sequence', (next + 1n).toString());
    return next;
  }
}
