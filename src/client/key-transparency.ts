/**
 * Key transparency in the client runtime (DESIGN.md §6.1, docs/audit.md). With
 * ClientOptions.auditLogKey set, no pre-key bundle is used unless the server proved that the
 * device's identity keys are in its audit log: the response carries a checkpoint signed by the log's
 * key and, per bundle, the log entry that published those keys with its inclusion proof. The
 * runtime also keeps the newest checkpoint it has accepted (in its database) and requires every
 * later one to be consistent with it, so a server that hands out a key or a device it never logged,
 * or shows this client a log that forks from what it showed before (or from what another client
 * was shown, once the two compare), is caught here. The pure checks are in src/audit/key-transparency.ts.
 *
 * A device can also be met without a bundle: it invites this one, it is in a group's member list,
 * or it is announced as a new device of this user. Its keys are checked the same way before they
 * are trusted ({@link requireLoggedDevice}, AuditService.GetKeyInclusion): otherwise a server could
 * skip the bundle check by having a device of its own invite this one instead of being fetched.
 */
import { sha256 } from '../../bindings/hash.js';
import type { Checkpoint } from '../audit/checkpoint.js';
import { CheckpointTracker, type KeyInclusionEvidence, openLogCheckpoint, type PublishedDevice, verifyKeyInclusion } from '../audit/key-transparency.js';
import { formatVerifierKey, type NoteVerifier, parseVerifierKey } from '../audit/signed-note.js';
import { InvalidClientInputError, KeyTransparencyError } from '../errors.js';
import type { GetPreKeyBundleResponse, KeyInclusion } from '../proto/gen/service_pb.js';
import type { PreKeyBundle } from '../proto/gen/wire_pb.js';
import { bytesEqual } from '../protocol/encoding.js';
import { callRpc, isRetryable } from '../transport/call.js';
import type { AuditServiceClient, ProtocolHandler } from '../transport/protocol-handler.js';
import type { RuntimeContext } from './context.js';
import type { Records } from './records.js';
import { LogCheckpointRecord } from './records/log-checkpoint.js';

/** Most hashes accepted in an inclusion or consistency proof (a tree of 2^64 leaves needs 64). */
export const MAX_PROOF_HASHES = 64;
/** Largest checkpoint note accepted (a post-quantum signature line is about 6.2 KB). */
export const MAX_CHECKPOINT_NOTE_BYTES = 16 * 1024;
/** Largest key publication entry accepted (a real one is a few hundred bytes). */
export const MAX_KEY_ENTRY_BYTES = 8 * 1024;
/** Devices whose keys a runtime proved logged without a bundle, remembered so a group's next epoch asks nothing again. */
const MAX_VERIFIED_DEVICES = 4096;
/** How often a check is redone when the stored newest checkpoint changed meanwhile (it cannot while calls are serialised). */
const MAX_CHECK_ATTEMPTS = 3;

/** The log a client checks bundles against: its key, and where to ask for consistency proofs. */
export interface TrustedAuditLog {
  /** The log's note key; its name is the checkpoints' origin. */
  readonly key: NoteVerifier;
  /** Hex SHA-256 of the key's verifier-key text: names the record of the newest checkpoint. */
  readonly keyHash: string;
  readonly audit: AuditServiceClient;
}

/**
 * Parses ClientOptions.auditLogKey (verifier-key text, `formatVerifierKey` output) and checks that
 * `protocol` can reach the log's AuditService. Throws InvalidClientInputError.
 */
export function trustedAuditLog(keyText: unknown, protocol: ProtocolHandler): TrustedAuditLog {
  if (typeof keyText !== 'string') throw new InvalidClientInputError('auditLogKey must be verifier-key text "<name>+<key ID>+<key>"');
  let key: NoteVerifier;
  try {
    key = parseVerifierKey(keyText);
  } catch (error) {
    throw new InvalidClientInputError(`auditLogKey is not a valid verifier key: ${error instanceof Error ? error.message : String(error)}`);
  }
  // Without the AuditService the client could never move past its first checkpoint: refuse now, not at the first send.
  if (!protocol.audit) throw new InvalidClientInputError('auditLogKey needs a protocol handler with an audit client (ProtocolHandler.audit)');
  const keyHash = Array.from(sha256(new TextEncoder().encode(formatVerifierKey(key))), (b) => b.toString(16).padStart(2, '0')).join('');
  return { key, keyHash, audit: protocol.audit };
}

/** The log of a runtime, and the last stored checkpoint it opened (so an unchanged one is not verified again). */
interface RuntimeLog {
  readonly log: TrustedAuditLog;
  opened?: { readonly note: string; readonly checkpoint: Checkpoint };
  /** Devices proved logged by {@link requireLoggedDevice}, by device, with the keys that were proved (oldest first). */
  readonly verified: Map<string, PublishedDevice>;
}

// The runtime context is shared by every part of the client; the log hangs off it here, so only
// this module knows about it, and a context without one behaves exactly as without key transparency.
const runtimeLogs = new WeakMap<RuntimeContext, RuntimeLog>();

/**
 * Makes every bundle `ctx` fetches from now on go through {@link requireLoggedBundles}, and every
 * device it meets otherwise through {@link requireLoggedDevice}, against `log`.
 */
export function enableKeyTransparency(ctx: RuntimeContext, log: TrustedAuditLog): void {
  runtimeLogs.set(ctx, { log, verified: new Map() });
}

/** Whether `ctx` checks keys against a log (so callers can skip gathering what only the check needs). */
export function keyTransparencyEnabled(ctx: RuntimeContext): boolean {
  return runtimeLogs.has(ctx);
}

/**
 * Checks a GetPreKeyBundle response before any of its bundles is used: the checkpoint is signed by
 * the log's key and consistent with the newest one this device accepted (which it replaces, in the
 * database, if it is newer), and every bundle, in order, has an inclusion proof of a key publication
 * entry naming exactly its user, device, suite and identity keys. The whole response is refused if
 * any bundle fails, so nothing of it is stored. Does nothing when key transparency is not enabled.
 *
 * Throws KeyTransparencyError; a network failure while fetching a consistency proof is rethrown as
 * it is (a TransportError), so the caller retries it like any other RPC.
 */
export async function requireLoggedBundles(ctx: RuntimeContext, response: GetPreKeyBundleResponse): Promise<void> {
  const runtimeLog = runtimeLogs.get(ctx);
  if (!runtimeLog) return;
  const checkpoint = verifyBundleEvidence(runtimeLog.log, response);
  await acceptCheckpoint(ctx, runtimeLog, response.checkpoint, checkpoint);
}

/**
 * Checks, before `device`'s identity keys are trusted for the first time without a bundle (an
 * invite from it, a group member list naming it, an announcement of it), that the log published
 * exactly these keys: GetKeyInclusion for that device, its checkpoint opened with the log's key and
 * made the newest (consistent, stored) exactly as for a bundle, and the entry's inclusion in it.
 * Keys proved once in this runtime are not asked for again. Does nothing when key transparency is
 * not enabled.
 *
 * Throws KeyTransparencyError (also when the server answers that it has no entry for the device);
 * a network failure is rethrown as it is, so the message that needed the check is retried later.
 */
export async function requireLoggedDevice(ctx: RuntimeContext, device: PublishedDevice): Promise<void> {
  const runtimeLog = runtimeLogs.get(ctx);
  if (!runtimeLog) return;
  const id = `${device.userId.length}:${device.userId}/${device.deviceId}`;
  const proved = runtimeLog.verified.get(id);
  if (proved && sameKeys(proved, device)) return;
  const response = await fetchKeyInclusion(runtimeLog.log.audit, device);
  const checkpoint = openBoundedCheckpoint(runtimeLog.log, response.checkpoint, 'the server sent');
  verifyKeyInclusion(device, response.keyInclusion ? inclusionEvidence(response.keyInclusion) : undefined, checkpoint);
  await acceptCheckpoint(ctx, runtimeLog, response.checkpoint, checkpoint);
  runtimeLog.verified.delete(id);
  runtimeLog.verified.set(id, device);
  // A bound, so member lists of many large groups cannot grow memory; a forgotten device is only asked for again.
  if (runtimeLog.verified.size > MAX_VERIFIED_DEVICES) runtimeLog.verified.delete(runtimeLog.verified.keys().next().value as string);
}

function sameKeys(a: PublishedDevice, b: PublishedDevice): boolean {
  return a.suiteId === b.suiteId && bytesEqual(a.signPublicKey, b.signPublicKey) && bytesEqual(a.kemPublicKey, b.kemPublicKey);
}

/** GetKeyInclusion for one device; a refusal (no entry, unknown device) is a KeyTransparencyError. */
async function fetchKeyInclusion(audit: AuditServiceClient, device: PublishedDevice) {
  try {
    return await callRpc('GetKeyInclusion', () => audit.getKeyInclusion({ userId: device.userId, deviceId: device.deviceId }));
  } catch (error) {
    // An unreachable server may answer later; one that has no proof for keys it delivered cannot show they are logged.
    if (isRetryable(error)) throw error;
    const who = `${device.userId.slice(0, 64)}/${device.deviceId.slice(0, 64)}`;
    throw new KeyTransparencyError(`the log gave no proof that the keys of ${who} are in it: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** The pure part: bounds, the checkpoint's signature, and each bundle's inclusion. Returns the checkpoint. */
function verifyBundleEvidence(log: TrustedAuditLog, response: GetPreKeyBundleResponse): Checkpoint {
  const bundles = response.preKeyBundles;
  const inclusions = response.keyInclusions;
  if (inclusions.length !== bundles.length) {
    throw new KeyTransparencyError(`the server sent ${inclusions.length} key inclusion proofs for ${bundles.length} bundles`);
  }
  const checkpoint = openBoundedCheckpoint(log, response.checkpoint, 'the server sent');
  bundles.forEach((bundle, i) => {
    verifyKeyInclusion(publishedDevice(bundle), inclusionEvidence(inclusions[i] as KeyInclusion), checkpoint);
  });
  return checkpoint;
}

/** Opens a checkpoint note of at most MAX_CHECKPOINT_NOTE_BYTES with the log's key. */
function openBoundedCheckpoint(log: TrustedAuditLog, note: string, whose: string): Checkpoint {
  if (note.length === 0) throw new KeyTransparencyError(`${whose} no checkpoint of the audit log: its bundles cannot be checked`);
  // A UTF-8 encoding is never shorter than the string's UTF-16 length, so the first test bounds the encoding too.
  if (note.length > MAX_CHECKPOINT_NOTE_BYTES || new TextEncoder().encode(note).length > MAX_CHECKPOINT_NOTE_BYTES) {
    throw new KeyTransparencyError(`${whose} a checkpoint note over ${MAX_CHECKPOINT_NOTE_BYTES} bytes`);
  }
  return openLogCheckpoint(note, log.key, log.key.name);
}

/** The device a bundle hands out, as the log must have published it. */
function publishedDevice(bundle: PreKeyBundle): PublishedDevice {
  const peer = bundle.address?.peer;
  if (peer?.case !== 'user' || !bundle.identityKey) {
    throw new KeyTransparencyError('a bundle without a device address or identity key cannot be checked against the log');
  }
  return {
    userId: peer.value.userId,
    deviceId: peer.value.deviceId,
    suiteId: bundle.suiteId,
    signPublicKey: bundle.identityKey.signPublicKey,
    kemPublicKey: bundle.identityKey.kemPublicKey,
  };
}

/** A KeyInclusion from the wire, bounded, as the pure verifier takes it. */
function inclusionEvidence(inclusion: KeyInclusion): KeyInclusionEvidence {
  if (inclusion.entry.length > MAX_KEY_ENTRY_BYTES) throw new KeyTransparencyError(`a key entry over ${MAX_KEY_ENTRY_BYTES} bytes`);
  if (inclusion.proof.length > MAX_PROOF_HASHES) throw new KeyTransparencyError(`an inclusion proof of more than ${MAX_PROOF_HASHES} hashes`);
  if (inclusion.index > BigInt(Number.MAX_SAFE_INTEGER)) throw new KeyTransparencyError('a key entry index beyond 2^53 − 1');
  return { entry: inclusion.entry, index: Number(inclusion.index), proof: inclusion.proof };
}

/**
 * Runs `checkpoint` through a CheckpointTracker seeded with the stored newest checkpoint and stores
 * `note` if it became the newest. The store is re-read in the transaction that writes: if another
 * call replaced the newest checkpoint meanwhile, the check is done again against that one.
 */
async function acceptCheckpoint(ctx: RuntimeContext, runtimeLog: RuntimeLog, note: string, checkpoint: Checkpoint): Promise<void> {
  const record = (records: Records) => new LogCheckpointRecord(records.meta, runtimeLog.log.keyHash);
  for (let attempt = 0; attempt < MAX_CHECK_ATTEMPTS; attempt++) {
    const storedNote = await ctx.transaction((r) => record(r).get());
    const tracker = new CheckpointTracker(storedNote === undefined ? undefined : openStoredCheckpoint(runtimeLog, storedNote));
    const newer = await tracker.observe(checkpoint, (fromSize, toSize) => fetchConsistencyProof(runtimeLog.log.audit, fromSize, toSize));
    const settled = await ctx.transaction(async (r) => {
      if ((await record(r).get()) !== storedNote) return false;
      if (newer) await record(r).put(note);
      return true;
    });
    if (settled) {
      if (newer) runtimeLog.opened = { note, checkpoint };
      return;
    }
  }
  throw new KeyTransparencyError('the newest checkpoint kept changing while a bundle was checked');
}

/** Opens the stored newest checkpoint again (it is checked like anything read back from storage). */
function openStoredCheckpoint(runtimeLog: RuntimeLog, note: string): Checkpoint {
  if (runtimeLog.opened?.note === note) return runtimeLog.opened.checkpoint;
  const checkpoint = openBoundedCheckpoint(runtimeLog.log, note, 'the database holds');
  runtimeLog.opened = { note, checkpoint };
  return checkpoint;
}

/** Asks the log for the consistency proof between two sizes; a refusal or an oversized proof is a KeyTransparencyError. */
async function fetchConsistencyProof(audit: AuditServiceClient, fromSize: number, toSize: number): Promise<readonly Uint8Array[]> {
  let proof: Uint8Array[];
  try {
    ({ proof } = await callRpc('GetConsistencyProof', () => audit.getConsistencyProof({ fromSize: BigInt(fromSize), toSize: BigInt(toSize) })));
  } catch (error) {
    // An unreachable server may answer later; a server that refuses the proof declines to show its log does not fork.
    if (isRetryable(error)) throw error;
    throw new KeyTransparencyError(`the log gave no consistency proof from size ${fromSize} to ${toSize}: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (proof.length > MAX_PROOF_HASHES) throw new KeyTransparencyError(`a consistency proof of more than ${MAX_PROOF_HASHES} hashes`);
  return proof;
}
