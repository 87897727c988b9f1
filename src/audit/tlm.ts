/**
 * The Trusted Log Module (TLM), pure: it holds the log's initial key A_0 and the checkpoint key,
 * and is the only party that can derive entry keys. It
 *
 * - signs checkpoints, refusing any that forks from the last one it signed (CheckpointSigner);
 * - answers attestation requests (attestation.ts; a software statement, see there);
 * - keeps the registry of verifiers and their entitlements (category masks), and releases the key
 *   of an entry only to a registered verifier whose entitlement covers every category of the
 *   entry's public mask W_j, wrapped to that verifier's KEM key (key-release.ts);
 * - re-checks the hash chain and every MAC Z_j and signs "MAC-verified up to j".
 *
 * Persistence is the caller's (like the rest of src/audit/): `lastSigned` and the verifier
 * registry must be stored durably before an answer that depends on them leaves the TLM.
 */
import { entitlementCovers, isCategoryMask } from './categories.js';
import { type Checkpoint, CheckpointSigner, type ConsistencyEvidence } from './checkpoint.js';
import type { AuditEntry } from './entry-format.js';
import { verifyEntries } from './entry-verifier.js';
import { signAttestation } from './attestation.js';
import { auditPrimitives, EntryKeyDeriver } from './key-schedule.js';
import { type WrappedEntryKey, wrapEntryKey } from './key-release.js';
import { emptyRoot } from './merkle.js';
import { type NoteSigner, signNote } from './signed-note.js';
import { AuditAccessDeniedError, AuditFormatError, AuditStateError } from '../errors.js';
import { wipe } from '../crypto/bytes.js';

/** A verifier the TLM may release keys to. */
export interface VerifierRegistration {
  /** Chosen by whoever registers the verifier; at most 128 printable ASCII characters. */
  readonly id: string;
  /** ML-KEM-1024 public key the verifier's keys are wrapped to. */
  readonly kemPublicKey: Uint8Array;
  /** Categories (a W mask) the verifier may read. */
  readonly entitlement: number;
}

/** Options of {@link TrustedLogModule}. */
export interface TrustedLogModuleOptions {
  readonly logId: Uint8Array;
  /** The checkpoint origin (the log's name in checkpoints and notes). */
  readonly origin: string;
  /** A_0. Copied; the caller erases its own copy. */
  readonly initialKey: Uint8Array;
  /** The TLM's note key (signs checkpoints, attestations and MAC statements). */
  readonly signer: NoteSigner;
  /** SHA-256 (hex) of the code this TLM runs, as stated in attestations. */
  readonly codeDigest: string;
  /** The last checkpoint signed before a restart. */
  readonly lastSigned?: Checkpoint;
  /** Verifiers registered before a restart. */
  readonly verifiers?: readonly VerifierRegistration[];
}

export const MAC_STATEMENT_HEADER = 'pqe2ee-mac-verified/v1';
const VERIFIER_ID = /^[\x21-\x7e]{1,128}$/;

/** The TLM state machine; one per log. */
export class TrustedLogModule {
  private readonly logId: Uint8Array;
  private readonly origin: string;
  private readonly signer: NoteSigner;
  private readonly codeDigest: string;
  private readonly checkpoints: CheckpointSigner;
  private readonly deriver: EntryKeyDeriver;
  private readonly registry = new Map<string, VerifierRegistration>();
  private disposed = false;
  /** How far the incremental MAC check has come, and the chain value Y_{count-1} it ended on. */
  private macProgress: { count: number; chainHash: Uint8Array | undefined } = { count: 0, chainHash: undefined };

  constructor(options: TrustedLogModuleOptions) {
    this.logId = options.logId.slice();
    this.origin = options.origin;
    this.signer = options.signer;
    this.codeDigest = options.codeDigest;
    this.checkpoints = new CheckpointSigner({ signer: options.signer, origin: options.origin, ...(options.lastSigned ? { lastSigned: options.lastSigned } : {}) });
    this.deriver = new EntryKeyDeriver({ logId: options.logId, initialKey: options.initialKey });
    for (const verifier of options.verifiers ?? []) this.registerVerifier(verifier);
  }

  /** The last checkpoint signed, or undefined before the first. */
  get lastSigned(): Checkpoint | undefined {
    return this.checkpoints.lastSigned;
  }

  /** Registers a verifier. An id already registered with another key or entitlement is refused. */
  registerVerifier(verifier: VerifierRegistration): void {
    this.requireLive();
    if (typeof verifier.id !== 'string' || !VERIFIER_ID.test(verifier.id)) throw new AuditFormatError('a verifier id is 1 to 128 printable ASCII characters');
    if (!(verifier.kemPublicKey instanceof Uint8Array) || verifier.kemPublicKey.length !== auditPrimitives.params.kemPublicKeyBytes) {
      throw new AuditFormatError(`a verifier's KEM public key is ${auditPrimitives.params.kemPublicKeyBytes} bytes (ML-KEM-1024)`);
    }
    if (!isCategoryMask(verifier.entitlement) || verifier.entitlement === 0) throw new AuditFormatError('an entitlement is a non-empty 32-bit category mask');
    const known = this.registry.get(verifier.id);
    if (known) {
      const same = known.entitlement === verifier.entitlement && known.kemPublicKey.every((byte, i) => byte === verifier.kemPublicKey[i]);
      if (!same) throw new AuditStateError(`verifier ${verifier.id} is already registered with another key or entitlement`);
      return;
    }
    this.registry.set(verifier.id, { id: verifier.id, kemPublicKey: verifier.kemPublicKey.slice(), entitlement: verifier.entitlement });
  }

  /** The registered verifiers (copies), to persist. */
  verifiers(): VerifierRegistration[] {
    return [...this.registry.values()].map((v) => ({ ...v, kemPublicKey: v.kemPublicKey.slice() }));
  }

  /** Signs a checkpoint of the tree (see CheckpointSigner.sign for the consistency rule). */
  signCheckpoint(size: number, rootHash: Uint8Array, evidence?: ConsistencyEvidence): string {
    this.requireLive();
    return this.checkpoints.sign({ origin: this.origin, size, rootHash, extensions: [] }, evidence);
  }

  /** Answers a verifier's nonce with a signed statement of the code, the key and the latest checkpoint. */
  attest(nonce: Uint8Array): string {
    this.requireLive();
    const last = this.checkpoints.lastSigned;
    return signAttestation({ nonce, codeDigest: this.codeDigest, checkpoint: last ?? { size: 0, rootHash: emptyRoot() } }, this.signer);
  }

  /**
   * K_j of entry `index` with public mask `categoryMask`, wrapped to verifier `verifierId`, if its
   * entitlement covers the mask. `logSize` is the number of entries the TLM has seen checkpointed
   * (no key beyond the log is derived): a size beyond the last checkpoint it signed is refused, so
   * whoever relays the request cannot make it walk the key chain arbitrarily far.
   */
  releaseKey(verifierId: string, index: number, categoryMask: number, logSize: number): WrappedEntryKey {
    this.requireLive();
    const verifier = this.registry.get(verifierId);
    if (!verifier) throw new AuditAccessDeniedError(`verifier ${String(verifierId).slice(0, 128)} is not registered`);
    if (!entitlementCovers(verifier.entitlement, categoryMask)) throw new AuditAccessDeniedError(`verifier ${verifierId} is not entitled to entry ${index}'s categories`);
    if (!Number.isSafeInteger(logSize) || logSize < 1) throw new AuditFormatError('the log is empty');
    const checkpointed = this.checkpoints.lastSigned?.size ?? 0;
    if (logSize > checkpointed) throw new AuditStateError(`log size ${logSize} is beyond the last signed checkpoint (size ${checkpointed})`);
    const keys = this.deriver.keysFor(index, categoryMask, logSize - 1);
    try {
      return wrapEntryKey(verifier.kemPublicKey, this.logId, index, categoryMask, keys.entryKey);
    } finally {
      wipe(keys.entryKey, keys.macKey);
    }
  }

  /**
   * Re-checks entries 0..n−1 (order, times, hash chain, every MAC and decryption) and signs
   * "MAC-verified up to n−1". Throws (and signs nothing) at the first failure.
   */
  verifyMacs(entries: readonly AuditEntry[]): string {
    this.requireLive();
    if (entries.length === 0) throw new AuditFormatError('no entries to verify');
    // An entry found beyond the run's end follows one out of place (already a failure): no keys for it.
    const last = entries.length - 1;
    const report = verifyEntries({ logId: this.logId, entries, keys: (index, mask) => (index <= last ? this.deriver.keysFor(index, mask, last) : undefined) });
    for (const entry of report.decrypted) wipe(entry.plaintext);
    const failure = report.failures[0];
    if (failure) throw new AuditStateError(`entry ${failure.index} fails its check (${failure.reason}): ${failure.message}`);
    return signNote(`${MAC_STATEMENT_HEADER}\n${this.origin}\nup-to ${entries.length - 1}\n`, [this.signer]);
  }

  /** Entries [0, n) whose MACs {@link verifyMacsContinuing} has re-checked. */
  get macVerifiedCount(): number {
    return this.macProgress.count;
  }

  /**
   * Re-checks the next run of entries, continuing where the last run ended (the first starts at
   * entry 0): order, times, hash chain from the last checked Y_j, every MAC and decryption. Throws
   * at the first failure and advances nothing. Lets a log be re-checked page by page, each entry
   * once, instead of from 0 at every statement.
   */
  verifyMacsContinuing(entries: readonly AuditEntry[]): number {
    this.requireLive();
    if (entries.length === 0) return this.macProgress.count;
    const start = this.macProgress.count;
    const last = start + entries.length - 1;
    const report = verifyEntries({
      logId: this.logId,
      entries,
      startIndex: start,
      ...(this.macProgress.chainHash ? { previousChainHash: this.macProgress.chainHash } : {}),
      // Keys only inside this run: an index read from tampered data must not make the deriver walk far.
      keys: (index, mask) => (index >= start && index <= last ? this.deriver.keysFor(index, mask, last) : undefined),
    });
    for (const entry of report.decrypted) wipe(entry.plaintext);
    const failure = report.failures[0];
    if (failure) throw new AuditStateError(`entry ${failure.index} fails its check (${failure.reason}): ${failure.message}`);
    this.macProgress = { count: last + 1, chainHash: report.lastChainHash.slice() };
    return this.macProgress.count;
  }

  /** Signs "MAC-verified up to j" for the entries {@link verifyMacsContinuing} has checked. */
  signMacStatement(): string {
    this.requireLive();
    if (this.macProgress.count === 0) throw new AuditFormatError('no entries verified yet');
    return signNote(`${MAC_STATEMENT_HEADER}\n${this.origin}\nup-to ${this.macProgress.count - 1}\n`, [this.signer]);
  }

  /** Zeroes A_0 and every derived key; the TLM refuses to work afterwards. */
  dispose(): void {
    this.deriver.dispose();
    this.disposed = true;
  }

  private requireLive(): void {
    if (this.disposed) throw new AuditStateError('the trusted log module was disposed');
  }
}
