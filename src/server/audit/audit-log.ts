/**
 * The reference server's audit log (docs/audit.md): its Security Audit Module (what the handlers
 * record), its Trusted Log Module (checkpoints, attestation, key release, MAC statements) and the
 * checks that tie the two to what is stored. One per server; AuditService (audit-service.ts)
 * and the pre-key bundles' key inclusions read it.
 */
import { AuditCategory } from '../../audit/categories.js';
import type { Checkpoint } from '../../audit/checkpoint.js';
import { decodeEntry, isPublicEntry } from '../../audit/entry-format.js';
import { entryPublishes, type KeyInclusionEvidence, keyPublicationEvent, type PublishedDevice } from '../../audit/key-transparency.js';
import { hashesEqual } from '../../audit/merkle.js';
import { formatVerifierKey } from '../../audit/signed-note.js';
import type { VerifierRegistration } from '../../audit/tlm.js';
import type { WrappedEntryKey } from '../../audit/key-release.js';
import { AuditAccessDeniedError, AuditStateError } from '../../errors.js';
import type { AuditStore } from '../store/audit-types.js';
import type { DeviceRecord } from '../store/types.js';
import { type AuditEvent, SecurityAuditModule } from './sam.js';
import { TlmHost } from './tlm-host.js';
import { writerStateCipher } from './writer-state-seal.js';

/** Audit options of the server (ServerOptions.audit). */
export interface ServerAuditOptions {
  /**
   * The TLM's key file (A_0, the checkpoint key, the admin token, the verifier registry). Default:
   * `<dbPath>.tlm.json` next to a SQLite file; in memory for ':memory:' and custom stores — so a
   * custom store that persists its log needs a key file here, or the second start is refused (a
   * new in-memory TLM cannot open the log the first one wrote).
   */
  keyFile?: string;
  /** Interval of HEARTBEAT entries, each followed by a fresh checkpoint (default 60 000 ms). */
  heartbeatMs?: number;
  /** A signed checkpoint is reused for this long before a request signs a newer one (default 1000 ms). */
  checkpointIntervalMs?: number;
}

/** What the operator publishes so that verifiers and clients can check the log. */
export interface AuditLogIdentity {
  /** The log's origin (checkpoint first line and key name): `<domain>/audit`. */
  readonly origin: string;
  /** The checkpoint key as note verifier-key text: ClientOptions.auditLogKey, `pqe2ee audit --log-key`. */
  readonly logKey: string;
  /** Registers verifiers (AuditService.RegisterVerifier); keep it secret. */
  readonly adminToken: string;
}

export const DEFAULT_AUDIT_HEARTBEAT_MS = 60_000;
export const DEFAULT_CHECKPOINT_INTERVAL_MS = 1000;
/** Entries per GetEntries / ReleaseKeys call at most. */
export const MAX_AUDIT_PAGE = 1000;
/** Keys derived between two yields of the event loop in a ReleaseKeys call. */
const RELEASE_YIELD_EVERY = 16;

export class ServerAuditLog {
  readonly identity: AuditLogIdentity;
  private lastSignedAt = 0;
  private pendingSignature: Promise<void> | undefined;
  private macRun: Promise<string> | undefined;
  private macStatementCache: { size: number; note: string } | undefined;
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private closed = false;

  private constructor(
    private readonly store: AuditStore,
    private readonly host: TlmHost,
    private readonly sam: SecurityAuditModule,
    private readonly checkpointIntervalMs: number,
    private readonly now: () => number,
  ) {
    this.identity = { origin: host.origin, logKey: formatVerifierKey(host.signer), adminToken: host.adminToken };
  }

  /**
   * Opens the log stored in `store` with the TLM state of `keyFile`. Refuses to start when the two
   * do not belong together: a stored log without its key file (the keys are gone, and a new A_0
   * would be a second log under the same name), or a log that is shorter than, or forks from, the
   * last checkpoint the TLM signed (the database was rolled back or replaced).
   */
  static async open(
    store: AuditStore,
    options: {
      origin: string;
      keyFile: string | undefined;
      heartbeatMs?: number;
      checkpointIntervalMs?: number;
      now?: () => number;
      /** Receives a failed heartbeat (the next one retries). */
      onError?: (error: unknown) => void;
    },
  ): Promise<ServerAuditLog> {
    const { host, created } = TlmHost.open({ keyFile: options.keyFile, origin: options.origin });
    let sam: SecurityAuditModule | undefined;
    let createdLog = false;
    const keyFileIsNew = (): AuditStateError => {
      // Left behind, the new file would pass for this log's at the next start.
      host.discardCreatedKeyFile();
      return new AuditStateError(`the database holds an audit log but its TLM key file ${options.keyFile ?? ''} is new: restore the key file, or start with a new database`);
    };
    try {
      const stateKey = host.writerStateKey();
      const stateCipher = writerStateCipher(stateKey);
      stateKey.fill(0);
      try {
        sam = await SecurityAuditModule.open(store, {
          stateCipher,
          logId: host.logId,
          initialKey: () => {
            createdLog = true;
            return host.initialKey();
          },
          ...(options.now ? { now: options.now } : {}),
        });
      } catch (error) {
        // A new key file cannot open the sealed state of an existing log: say why.
        throw created && !createdLog ? keyFileIsNew() : error;
      }
      if (created && !createdLog) throw keyFileIsNew();
      const last = host.tlm.lastSigned;
      if (last) requireLogExtends(sam, last);
      const log = new ServerAuditLog(store, host, sam, options.checkpointIntervalMs ?? DEFAULT_CHECKPOINT_INTERVAL_MS, options.now ?? Date.now);
      log.startHeartbeat(options.heartbeatMs ?? DEFAULT_AUDIT_HEARTBEAT_MS, options.onError ?? (() => undefined));
      return log;
    } catch (error) {
      await sam?.close();
      host.dispose();
      throw error;
    }
  }

  /** Records one event; resolves once it is durable (handlers answer only after that). */
  record(event: AuditEvent): Promise<number> {
    return this.sam.record(event);
  }

  /** Records the public key publication of a device (key transparency). */
  recordKeyPublication(device: PublishedDevice, linkedBy?: string): Promise<number> {
    return this.sam.record({
      mask: AuditCategory.KEY_PUBLICATION,
      visibility: 'public',
      event: { ...keyPublicationEvent(device, linkedBy) },
      keyEntry: { userId: device.userId, deviceId: device.deviceId },
    });
  }

  /** Entries stored. */
  get size(): number {
    return this.sam.size;
  }

  /**
   * A signed checkpoint covering at least `minSize` entries: the last one if it does and is at
   * most checkpointIntervalMs old, otherwise a new one over every stored entry. Signing and
   * persisting are synchronous, so concurrent requests cannot interleave two signatures.
   */
  checkpoint(minSize: number): { note: string; size: number } {
    this.requireOpen();
    const last = this.host.tlm.lastSigned;
    const note = this.host.lastSignedNote;
    const size = this.sam.size;
    if (minSize > size) throw new AuditStateError(`no stored log of ${minSize} entries to checkpoint`);
    const fresh = this.now() - this.lastSignedAt < this.checkpointIntervalMs;
    if (note && last && last.size >= minSize && (fresh || last.size === size)) return { note, size: last.size };
    const signed = this.host.tlm.signCheckpoint(size, this.sam.merkleTree.rootAt(size), { tree: this.sam.merkleTree });
    // Stored before anyone sees it: a TLM restarted from an older file could be made to sign a fork.
    this.host.commitSigned(signed);
    this.lastSignedAt = this.now();
    return { note: signed, size };
  }

  /**
   * A signed checkpoint covering at least `minSize` stored entries, without signing more than once
   * per checkpoint interval however many requests need one: the last checkpoint if it covers them,
   * otherwise the next scheduled signature, shared by every request waiting for it. (A bundle of a
   * device registered a moment ago waits up to one interval; a burst of registrations cannot make
   * the TLM sign, and fsync its key file, once per request.)
   */
  async checkpointCovering(minSize: number): Promise<{ note: string; size: number }> {
    this.requireOpen();
    if (minSize > this.sam.size) throw new AuditStateError(`no stored log of ${minSize} entries to checkpoint`);
    const last = this.host.tlm.lastSigned;
    const note = this.host.lastSignedNote;
    if (note && last && last.size >= minSize) return { note, size: last.size };
    this.pendingSignature ??= new Promise<void>((resolve) => {
      const wait = Math.max(0, this.lastSignedAt + this.checkpointIntervalMs - this.now());
      setTimeout(resolve, wait);
    }).then(() => {
      this.pendingSignature = undefined;
      // Every entry stored by now is covered, so is every request that waited for this signature.
      this.checkpoint(this.sam.size);
    });
    await this.pendingSignature;
    return this.checkpointCovering(minSize);
  }

  /** The size of the last signed checkpoint (0 before the first). */
  get checkpointedSize(): number {
    return this.host.tlm.lastSigned?.size ?? 0;
  }

  /**
   * The index of the key entry that publishes exactly these keys for this device: the indexed one
   * if it matches, otherwise a new entry (the index can point at another publication when two
   * registrations of one device id raced; the stored device is what is handed out, so that is
   * what must be in the log).
   */
  async keyEntryFor(device: PublishedDevice): Promise<number> {
    const index = await this.store.findKeyEntry(device.userId, device.deviceId);
    if (index !== undefined) {
      const [bytes] = await this.store.readEntries(index, 1);
      if (bytes && entryPublishes(bytes, device)) return index;
    }
    return this.recordKeyPublication(device);
  }

  /** The public entry that published this device's keys, with its audit path in a tree of `treeSize`. */
  async keyInclusion(userId: string, deviceId: string, treeSize: number): Promise<KeyInclusionEvidence | undefined> {
    const index = await this.store.findKeyEntry(userId, deviceId);
    if (index === undefined || index >= treeSize) return undefined;
    const [entry] = await this.store.readEntries(index, 1);
    if (!entry) return undefined;
    return { entry, index, proof: this.sam.merkleTree.inclusionProof(index, treeSize) };
  }

  /** Index of the newest entry publishing this device's keys (none: registered before the log existed). */
  keyEntryIndex(userId: string, deviceId: string): Promise<number | undefined> {
    return this.store.findKeyEntry(userId, deviceId);
  }

  /** Encoded entries [start, start + count) of the stored log (count ≤ MAX_AUDIT_PAGE). */
  readEntries(start: number, count: number): Promise<Uint8Array[]> {
    const end = Math.min(this.sam.size, start + Math.min(count, MAX_AUDIT_PAGE));
    return end > start ? this.store.readEntries(start, end - start) : Promise.resolve([]);
  }

  /** RFC 9162 consistency proof between two stored tree sizes. */
  consistencyProof(fromSize: number, toSize: number): Uint8Array[] {
    if (toSize > this.sam.size) throw new AuditStateError(`the log has ${this.sam.size} entries`);
    return this.sam.merkleTree.consistencyProof(fromSize, toSize);
  }

  /** RFC 9162 inclusion proof of `index` in the stored tree of `treeSize`. */
  inclusionProof(index: number, treeSize: number): Uint8Array[] {
    if (treeSize > this.sam.size) throw new AuditStateError(`the log has ${this.sam.size} entries`);
    return this.sam.merkleTree.inclusionProof(index, treeSize);
  }

  /** The TLM's signed answer to a verifier's nonce (a software statement: docs/audit.md). */
  attest(nonce: Uint8Array): string {
    this.requireOpen();
    // The statement names the latest checkpoint; make sure there is one.
    if (!this.host.lastSignedNote) this.checkpoint(0);
    return this.host.tlm.attest(nonce);
  }

  /** Whether `token` is the admin token. */
  isAdmin(token: string): boolean {
    return this.host.isAdminToken(token);
  }

  /** Registers a verifier and the hash of its access token (stored in the key file before this returns). */
  registerVerifier(verifier: VerifierRegistration, accessToken: Uint8Array): void {
    this.requireOpen();
    this.host.registerVerifier(verifier, accessToken);
  }

  /** Whether `accessToken` belongs to `verifierId` (checked before any key is derived). */
  verifierTokenMatches(verifierId: string, accessToken: Uint8Array): boolean {
    return this.host.verifierTokenMatches(verifierId, accessToken);
  }

  /**
   * Keys of sealed entries for a verifier, in request order; entries outside the last signed
   * checkpoint, public entries and those its entitlement does not cover are listed in `denied`.
   * An unknown verifier is refused outright. Repeated indexes are answered once, and the event
   * loop is yielded between small groups of keys: one call must not stall every other request.
   */
  async releaseKeys(verifierId: string, indexes: readonly number[]): Promise<{ keys: WrappedEntryKey[]; denied: number[] }> {
    this.requireOpen();
    if (!this.host.tlm.verifiers().some((v) => v.id === verifierId)) throw new AuditAccessDeniedError(`verifier ${verifierId.slice(0, 128)} is not registered`);
    const logSize = this.checkpointedSize;
    const keys: WrappedEntryKey[] = [];
    const denied: number[] = [];
    const unique = [...new Set(indexes.slice(0, MAX_AUDIT_PAGE))];
    for (const [position, index] of unique.entries()) {
      if (position > 0 && position % RELEASE_YIELD_EVERY === 0) await new Promise<void>((resolve) => setImmediate(resolve));
      const [bytes] = index < logSize ? await this.store.readEntries(index, 1) : [];
      const entry = bytes ? decodeEntry(bytes) : undefined;
      if (!entry || isPublicEntry(entry)) {
        denied.push(index);
        continue;
      }
      try {
        keys.push(this.host.tlm.releaseKey(verifierId, index, entry.categoryMask, logSize));
      } catch (error) {
        if (!(error instanceof AuditAccessDeniedError)) throw error;
        denied.push(index);
      }
    }
    return { keys, denied };
  }

  /**
   * The TLM's signed "MAC-verified up to j" over every entry of the last checkpoint. The TLM checks
   * each entry once, page by page with the event loop yielded in between, continuing where the
   * last statement ended (so a call costs the entries added since the last one, and a signature);
   * concurrent calls share one computation, and while the checkpoint has not grown the cached
   * statement is served. It always covers the last checkpoint, so a verifier can require that.
   */
  async macStatement(): Promise<string> {
    this.requireOpen();
    const size = this.checkpointedSize;
    if (size === 0) throw new AuditStateError('the log has no checkpointed entries yet');
    const cached = this.macStatementCache;
    if (cached && cached.size === size) return cached.note;
    this.macRun ??= this.extendMacCheck(size).finally(() => {
      this.macRun = undefined;
    });
    return this.macRun;
  }

  private async extendMacCheck(size: number): Promise<string> {
    const tlm = this.host.tlm;
    while (tlm.macVerifiedCount < size) {
      const start = tlm.macVerifiedCount;
      const pageBytes = await this.store.readEntries(start, Math.min(MAX_AUDIT_PAGE, size - start));
      if (pageBytes.length === 0) throw new AuditStateError(`the store has no entry ${start} below the checkpoint's ${size}`);
      tlm.verifyMacsContinuing(pageBytes.map((bytes) => decodeEntry(bytes)));
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    const note = tlm.signMacStatement();
    this.macStatementCache = { size: tlm.macVerifiedCount, note };
    return note;
  }

  /** Stops the heartbeat, waits for recorded events to be stored, zeroes the keys. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    await this.sam.close();
    this.host.dispose();
  }

  /**
   * A HEARTBEAT entry, then a checkpoint over it, at a fixed interval: a verifier that finds the
   * newest heartbeat too old knows the tail it was shown is truncated, or the SAM stopped.
   */
  private startHeartbeat(intervalMs: number, onError: (error: unknown) => void): void {
    const beat = async (): Promise<void> => {
      if (this.closed) return;
      const index = await this.sam.record({ mask: AuditCategory.HEARTBEAT, visibility: 'public', event: { type: 'heartbeat' } });
      if (!this.closed) await this.checkpointCovering(index + 1);
    };
    const run = (): void => void beat().catch(onError);
    run();
    this.heartbeat = setInterval(run, intervalMs);
    this.heartbeat.unref();
  }

  private requireOpen(): void {
    if (this.closed) throw new AuditStateError('the audit log is closed');
  }
}

/** The stored log must contain the last signed checkpoint as a prefix. */
function requireLogExtends(sam: SecurityAuditModule, last: Checkpoint): void {
  if (sam.size < last.size) {
    throw new AuditStateError(`the stored audit log has ${sam.size} entries but the TLM signed a checkpoint of ${last.size}: the database was rolled back`);
  }
  if (!hashesEqual(sam.merkleTree.rootAt(last.size), last.rootHash)) {
    throw new AuditStateError(`the stored audit log forks from the checkpoint the TLM signed at size ${last.size}: the database was replaced or altered`);
  }
}

/** A stored device as its key-publication entry names it. */
export function publishedDevice(device: DeviceRecord): PublishedDevice {
  return { userId: device.userId, deviceId: device.deviceId, suiteId: device.suiteId, signPublicKey: device.signPublicKey, kemPublicKey: device.kemPublicKey };
}
