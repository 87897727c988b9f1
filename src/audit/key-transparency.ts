/**
 * Key transparency for pre-key bundles (docs/audit.md, "Key transparency"), pure. The server writes
 * one public KEY_PUBLICATION entry per device it accepts, naming the device and the SHA-256 of its
 * identity keys; every bundle it hands out carries that entry and its inclusion proof against a
 * signed checkpoint. A client that knows the log's key checks both, and keeps the newest checkpoint
 * it has seen so that every later one must extend it (a consistency proof): a server that hands out
 * a key it never logged, or shows this client a log that forks from what it showed before, is
 * caught here, and what it did log stays there for every auditor to see.
 */
import { sha256 } from '../../bindings/hash.js';
import { KeyTransparencyError } from '../errors.js';
import { base64Encode } from './base64.js';
import { AuditCategory } from './categories.js';
import { type Checkpoint, openCheckpoint } from './checkpoint.js';
import { decodeEntry, isPublicEntry } from './entry-format.js';
import { hashesEqual, leafHash, verifyConsistency, verifyInclusion } from './merkle.js';
import type { NoteVerifier } from './signed-note.js';

/** A device's identity keys as a bundle (or a registration) states them. */
export interface PublishedDevice {
  readonly userId: string;
  readonly deviceId: string;
  readonly suiteId: number;
  readonly signPublicKey: Uint8Array;
  readonly kemPublicKey: Uint8Array;
}

/** The event of a key publication entry (public, so every field is plain data). */
export interface KeyPublicationEvent {
  readonly type: 'key-publication';
  readonly user: string;
  readonly device: string;
  readonly suite: number;
  /** base64 SHA-256 of the signature public key. */
  readonly sign: string;
  /** base64 SHA-256 of the KEM public key. */
  readonly kem: string;
  /** The device that signed the link of this one (absent for a user's first device). */
  readonly linkedBy?: string;
}

/** The entry a server writes when it accepts `device`. Hashes keep the entry small (well under the SAM's event bound). */
export function keyPublicationEvent(device: PublishedDevice, linkedBy?: string): KeyPublicationEvent {
  return {
    type: 'key-publication',
    user: device.userId,
    device: device.deviceId,
    suite: device.suiteId,
    sign: base64Encode(sha256(device.signPublicKey)),
    kem: base64Encode(sha256(device.kemPublicKey)),
    ...(linkedBy !== undefined ? { linkedBy } : {}),
  };
}

/** A bundle's evidence: the encoded log entry, its index, and its audit path. */
export interface KeyInclusionEvidence {
  readonly entry: Uint8Array;
  readonly index: number;
  readonly proof: readonly Uint8Array[];
}

/** Opens a checkpoint note with the log's key; a KeyTransparencyError if it is not one. */
export function openLogCheckpoint(note: string, key: NoteVerifier, origin: string): Checkpoint {
  try {
    return openCheckpoint(note, [key], origin).checkpoint;
  } catch (error) {
    throw new KeyTransparencyError(`the checkpoint is not signed by the log's key: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/**
 * Checks that `evidence` proves `device`'s keys were published in the log under `checkpoint`:
 * the entry is a public KEY_PUBLICATION entry at `index` naming exactly this user, device, suite
 * and key hashes, and its audit path leads to the checkpoint's root. Throws KeyTransparencyError.
 */
export function verifyKeyInclusion(device: PublishedDevice, evidence: KeyInclusionEvidence | undefined, checkpoint: Checkpoint): void {
  const who = `${device.userId.slice(0, 64)}/${device.deviceId.slice(0, 64)}`;
  if (!evidence) throw new KeyTransparencyError(`the bundle of ${who} carries no proof that its keys are in the log`);
  let entry: ReturnType<typeof decodeEntry>;
  try {
    entry = decodeEntry(evidence.entry);
  } catch (error) {
    throw new KeyTransparencyError(`the key entry of ${who} does not decode: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (entry.index !== evidence.index) throw new KeyTransparencyError(`the key entry of ${who} is entry ${entry.index}, not ${evidence.index}`);
  if (!isPublicEntry(entry) || (entry.categoryMask & AuditCategory.KEY_PUBLICATION) === 0) {
    throw new KeyTransparencyError(`entry ${entry.index} is not a public key publication`);
  }
  if (evidence.index >= checkpoint.size) throw new KeyTransparencyError(`entry ${evidence.index} is beyond the checkpoint (size ${checkpoint.size})`);
  try {
    verifyInclusion(evidence.index, checkpoint.size, leafHash(evidence.entry), evidence.proof, checkpoint.rootHash);
  } catch (error) {
    throw new KeyTransparencyError(`the key entry of ${who} is not in the checkpointed log: ${error instanceof Error ? error.message : String(error)}`);
  }
  const expected = keyPublicationEvent(device);
  let published: Partial<KeyPublicationEvent>;
  try {
    published = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(entry.ciphertext)) as Partial<KeyPublicationEvent>;
  } catch {
    throw new KeyTransparencyError(`entry ${entry.index} is not a key publication event`);
  }
  const same =
    published.type === expected.type &&
    published.user === expected.user &&
    published.device === expected.device &&
    published.suite === expected.suite &&
    published.sign === expected.sign &&
    published.kem === expected.kem;
  if (!same) throw new KeyTransparencyError(`the log published other keys for ${who} than the bundle carries`);
}

/**
 * Whether `entry` (encoded) is a public KEY_PUBLICATION entry naming exactly `device`'s user,
 * device, suite and keys — the field check of {@link verifyKeyInclusion}, without the proof.
 */
export function entryPublishes(entry: Uint8Array, device: PublishedDevice): boolean {
  let decoded: ReturnType<typeof decodeEntry>;
  try {
    decoded = decodeEntry(entry);
  } catch {
    return false;
  }
  if (!isPublicEntry(decoded) || (decoded.categoryMask & AuditCategory.KEY_PUBLICATION) === 0) return false;
  let published: Partial<KeyPublicationEvent>;
  try {
    published = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(decoded.ciphertext)) as Partial<KeyPublicationEvent>;
  } catch {
    return false;
  }
  const expected = keyPublicationEvent(device);
  return (
    published.type === expected.type &&
    published.user === expected.user &&
    published.device === expected.device &&
    published.suite === expected.suite &&
    published.sign === expected.sign &&
    published.kem === expected.kem
  );
}

/** Fetches the consistency proof between two tree sizes (from the log's server). */
export type ConsistencyProofSource = (fromSize: number, toSize: number) => Promise<readonly Uint8Array[]>;

/**
 * The newest checkpoint a client has seen, and the rule that every checkpoint it sees later must be
 * consistent with it. A checkpoint older than the newest is accepted only if it is a prefix of it
 * (proved the other way round). The caller persists `newest` (e.g. in its store) to keep the rule
 * across restarts.
 */
export class CheckpointTracker {
  private current: Checkpoint | undefined;

  constructor(newest?: Checkpoint) {
    this.current = newest;
  }

  get newest(): Checkpoint | undefined {
    return this.current;
  }

  /**
   * Accepts `next` if it is consistent with the newest seen; returns true when it became the newest.
   * Throws KeyTransparencyError on a fork (a split view).
   */
  async observe(next: Checkpoint, fetchProof: ConsistencyProofSource): Promise<boolean> {
    const known = this.current;
    if (!known || known.size === 0) {
      this.current = next;
      return true;
    }
    if (next.origin !== known.origin) throw new KeyTransparencyError('a checkpoint of another log');
    if (next.size === known.size) {
      if (!hashesEqual(next.rootHash, known.rootHash)) throw new KeyTransparencyError(`two different logs of size ${next.size}: a split view`);
      return false;
    }
    if (next.size === 0) throw new KeyTransparencyError('an empty log after a non-empty one: the log was rolled back');
    const [older, newer] = next.size < known.size ? [next, known] : [known, next];
    const proof = await fetchProof(older.size, newer.size);
    try {
      verifyConsistency(older.size, newer.size, proof, older.rootHash, newer.rootHash);
    } catch (error) {
      throw new KeyTransparencyError(
        `checkpoint ${next.size} is not consistent with checkpoint ${known.size} seen before (a split view): ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    if (newer === next) {
      this.current = next;
      return true;
    }
    return false;
  }
}
