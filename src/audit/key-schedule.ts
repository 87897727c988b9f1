/**
 * The audit log's key schedule (Schneier–Kelsey, DESIGN.md §6). All HKDF-SHA256 with an empty
 * salt (A_j is already a uniform 32-byte key) and length-prefixed info that names the log:
 *
 *   A_{j+1} = HKDF(A_j, info = "pqe2ee/v1/audit-evolve" ‖ logId)
 *   K_j     = HKDF(A_j, info = "pqe2ee/v1/audit-entry"  ‖ logId ‖ u32 W_j ‖ u64 j)   entry key (AES-256-GCM)
 *   M_j     = HKDF(A_j, info = "pqe2ee/v1/audit-mac"    ‖ logId ‖ u64 j)             Z_j = HMAC(M_j, Y_j)
 *   N_j     = HKDF(A_j, info = "pqe2ee/v1/audit-nonce"  ‖ logId ‖ u64 j)             synthetic-nonce key (writer only)
 *
 * The writer (SAM) holds only the current A_j and erases it once A_{j+1} exists, so whoever seizes
 * the server later cannot recompute any key of an entry already written. K_j depends on W_j, so a
 * key the TLM released for one category mask opens no entry that carries another. The TLM holds
 * A_0 and walks the chain forward to release K_j and M_j (EntryKeyDeriver).
 */
import { lengthPrefixed, label, wipe } from '../crypto/bytes.js';
import { getSuite } from '../crypto/suites.js';
import { isCategoryMask } from './categories.js';
import { isEntryInteger, requireLogId, u32, u64 } from './entry-format.js';
import { AuditFormatError, AuditStateError } from '../errors.js';

/** Bytes of A_j, K_j, M_j and N_j. */
export const AUDIT_KEY_BYTES = 32;

const EVOLVE_LABEL = label('pqe2ee/v1/audit-evolve');
const ENTRY_LABEL = label('pqe2ee/v1/audit-entry');
const MAC_LABEL = label('pqe2ee/v1/audit-mac');
const NONCE_LABEL = label('pqe2ee/v1/audit-nonce');
const NO_SALT = new Uint8Array(0);

/** The symmetric primitives are the same in every suite (AES-256-GCM, HKDF/HMAC/SHA-256). */
export const auditPrimitives = getSuite(1);

/** Keys of one entry as released to a verifier; the receiver zeroes them after use. */
export interface EntryKeys {
  /** K_j: decrypts the entry. */
  readonly entryKey: Uint8Array;
  /** M_j: checks Z_j. Optional: a verifier may be given only K_j. */
  readonly macKey?: Uint8Array;
}

/** Throws unless `key` is a 32-byte evolving key. */
export function requireEvolvingKey(key: unknown, what = 'evolving key'): Uint8Array {
  if (!(key instanceof Uint8Array) || key.length !== AUDIT_KEY_BYTES) throw new AuditFormatError(`${what} must be ${AUDIT_KEY_BYTES} bytes`);
  return key;
}

/** A_{j+1} from A_j. Does not touch A_j; the caller erases it. */
export function evolveKey(logId: Uint8Array, key: Uint8Array): Uint8Array {
  return auditPrimitives.hkdf(key, NO_SALT, lengthPrefixed(EVOLVE_LABEL, logId), AUDIT_KEY_BYTES);
}

/** K_j for entry `index` with mask `categoryMask`, from A_index. */
export function entryKey(logId: Uint8Array, key: Uint8Array, index: number, categoryMask: number): Uint8Array {
  return auditPrimitives.hkdf(key, NO_SALT, lengthPrefixed(ENTRY_LABEL, logId, u32(categoryMask), u64(index)), AUDIT_KEY_BYTES);
}

/** M_j for entry `index`, from A_index. */
export function macKey(logId: Uint8Array, key: Uint8Array, index: number): Uint8Array {
  return auditPrimitives.hkdf(key, NO_SALT, lengthPrefixed(MAC_LABEL, logId, u64(index)), AUDIT_KEY_BYTES);
}

/** N_j for entry `index`, from A_index (only the writer needs it: the nonce is stored). */
export function nonceKey(logId: Uint8Array, key: Uint8Array, index: number): Uint8Array {
  return auditPrimitives.hkdf(key, NO_SALT, lengthPrefixed(NONCE_LABEL, logId, u64(index)), AUDIT_KEY_BYTES);
}

/** Options of {@link EntryKeyDeriver}. */
export interface EntryKeyDeriverOptions {
  readonly logId: Uint8Array;
  /** A_0. Copied; the caller erases its own copy. */
  readonly initialKey: Uint8Array;
  /**
   * Keep A_j for every j that is a multiple of this (default 256), so releasing the key of any
   * entry costs at most that many HKDF steps instead of j. Memory: 32 bytes per interval.
   */
  readonly snapshotInterval?: number;
  /** Highest index keysFor derives unless told otherwise (default 2^32 − 1). */
  readonly maxIndex?: number;
}

/**
 * The TLM's side of the key schedule: holds A_0 (the TLM is the party the scheme trusts with it)
 * and derives K_j and M_j for any entry. Sequential requests cost one HKDF step each; random
 * access starts from the nearest snapshot below j.
 */
export class EntryKeyDeriver {
  private readonly logId: Uint8Array;
  private readonly interval: number;
  /** snapshots[s] = A_{s·interval}; filled in as the deriver walks forward. */
  private readonly snapshots: Uint8Array[];
  private cursorIndex = 0;
  private cursorKey: Uint8Array;
  private disposed = false;
  private readonly defaultMaxIndex: number;

  constructor(options: EntryKeyDeriverOptions) {
    this.logId = requireLogId(options.logId).slice();
    const interval = options.snapshotInterval ?? 256;
    if (!Number.isSafeInteger(interval) || interval < 1 || interval > 2 ** 20) throw new AuditFormatError('snapshot interval must be an integer in [1, 2^20]');
    this.interval = interval;
    const maxIndex = options.maxIndex ?? 0xffff_ffff;
    if (!isEntryInteger(maxIndex)) throw new AuditFormatError('max index must be an integer in [0, 2^53)');
    this.defaultMaxIndex = maxIndex;
    const initial = requireEvolvingKey(options.initialKey, 'initial key').slice();
    this.snapshots = [initial];
    this.cursorKey = initial.slice();
  }

  /**
   * K_j and M_j of entry `index` whose stored mask is `categoryMask`. Fresh arrays; zero them
   * after use. Cost grows with the distance from the nearest snapshot, so `index` is refused
   * beyond `maxIndex` (the TLM passes its log's size − 1, so a request for entry 2^50 cannot
   * make it evolve the key 2^50 times).
   */
  keysFor(index: number, categoryMask: number, maxIndex: number = this.defaultMaxIndex): Required<EntryKeys> {
    if (!isEntryInteger(index)) throw new AuditFormatError('entry index must be an integer in [0, 2^53)');
    if (index > maxIndex) throw new AuditFormatError(`entry ${index} is beyond the last entry ${maxIndex}`);
    if (!isCategoryMask(categoryMask)) throw new AuditFormatError('category mask must be a 32-bit unsigned integer');
    const key = this.keyAt(index);
    return { entryKey: entryKey(this.logId, key, index, categoryMask), macKey: macKey(this.logId, key, index) };
  }

  /** Zeroes A_0, every snapshot and the cursor. The deriver refuses to work afterwards. */
  dispose(): void {
    wipe(...this.snapshots, this.cursorKey);
    this.snapshots.length = 0;
    this.disposed = true;
  }

  /** A_index, walking from the cursor or the nearest snapshot (the cursor's key is owned here). */
  private keyAt(index: number): Uint8Array {
    if (this.disposed) throw new AuditStateError('the entry key deriver was disposed');
    // Jump to the nearest snapshot at or below index when the cursor is past index or behind it.
    const slot = Math.min(Math.floor(index / this.interval), this.snapshots.length - 1);
    if (index < this.cursorIndex || slot * this.interval > this.cursorIndex) {
      wipe(this.cursorKey);
      this.cursorKey = (this.snapshots[slot] as Uint8Array).slice();
      this.cursorIndex = slot * this.interval;
    }
    while (this.cursorIndex < index) {
      const next = evolveKey(this.logId, this.cursorKey);
      wipe(this.cursorKey);
      this.cursorKey = next;
      this.cursorIndex++;
      if (this.cursorIndex % this.interval === 0 && this.snapshots.length === this.cursorIndex / this.interval) {
        this.snapshots.push(next.slice());
      }
    }
    return this.cursorKey;
  }
}
