/**
 * The newest checkpoint of the audit log this device has accepted (key transparency, see
 * src/client/key-transparency.ts), kept as the signed note text exactly as the server sent it, so
 * that it is checked again (signature and all) whenever it is read back. One record per log key:
 * a client configured with another key starts that log afresh and cannot confuse the two.
 *
 * It lives in the meta namespace (one small string, replaced whole inside the caller's transaction,
 * so a crash leaves the previous checkpoint or the new one, never a mix) and, like every record,
 * is sealed at rest when the database is encrypted (ClientOptions.storage).
 */
import type { MetaRecords } from './meta.js';

/** Prefix of the meta keys of newest checkpoints; the rest of the key names the log key. */
const CHECKPOINT_KEY_PREFIX = 'log-checkpoint/';

/** The newest accepted checkpoint of one log. */
export class LogCheckpointRecord {
  private readonly key: string;

  /** `logKeyId`: a short stable id of the log's key (hex of a hash of its verifier-key text). */
  constructor(
    private readonly meta: MetaRecords,
    logKeyId: string,
  ) {
    this.key = `${CHECKPOINT_KEY_PREFIX}${logKeyId}`;
  }

  /** The signed note of the newest checkpoint accepted, or undefined before the first. */
  get(): Promise<string | undefined> {
    return this.meta.get(this.key);
  }

  /** Replaces the newest checkpoint (the caller has checked that `note` extends the stored one). */
  put(note: string): Promise<void> {
    return this.meta.put(this.key, note);
  }
}
