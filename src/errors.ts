/**
 * Every error pqe2ee throws, in one dependency-free module that every layer imports (bindings,
 * crypto, protocol, store, transport, client, server, audit). Each class carries a literal `code`
 * from {@link Pqe2eeErrorCode}, so `switch (error.code)` is checked by the compiler; messages name
 * the argument, size or id that is wrong and never contain key material. `cause` is supported for
 * errors that wrap a lower-level failure.
 */

/** The stable machine-readable codes of the storage layer. */
export type StorageErrorCode =
  | 'ERR_WRONG_STORAGE_KEY'
  | 'ERR_STORAGE_CORRUPTED'
  | 'ERR_STORAGE_CLOSED'
  | 'ERR_TRANSACTION_FINISHED'
  | 'ERR_INVALID_STORAGE_INPUT'
  | 'ERR_RESERVED_NAMESPACE'
  | 'ERR_STORAGE_UNAVAILABLE'
  | 'ERR_UNSUPPORTED_STORAGE_VERSION'
  | 'ERR_STORAGE_LOCKED'
  | 'ERR_STORAGE_IO';

/** Every stable machine-readable code an error of this package can carry. */
export type Pqe2eeErrorCode =
  | 'ERR_INVALID_LENGTH'
  | 'ERR_INVALID_TYPE'
  | 'ERR_INVALID_KEY'
  | 'ERR_DECRYPTION_FAILED'
  | 'ERR_UNKNOWN_SUITE'
  | 'ERR_CORE_NOT_READY'
  | 'ERR_CORE'
  | 'ERR_MALFORMED_MESSAGE'
  | 'ERR_UNSUPPORTED_PROTOCOL_VERSION'
  | 'ERR_SUITE_MISMATCH'
  | 'ERR_INVALID_SIGNATURE'
  | 'ERR_UNKNOWN_PRE_KEY'
  | 'ERR_DUPLICATE_INVITE'
  | 'ERR_SESSION_NOT_READY'
  | 'ERR_REPLAY'
  | 'ERR_TOO_MANY_SKIPPED'
  | 'ERR_UNKNOWN_RATCHET_KEY'
  | 'ERR_SESSION_STATE'
  | 'ERR_UNKNOWN_EPOCH'
  | 'ERR_EPOCH_CONFLICT'
  | 'ERR_NOT_A_MEMBER'
  | 'ERR_MISSING_SENDER_KEY'
  | 'ERR_SENDER_KEY_CONFLICT'
  | 'ERR_GROUP_AUTH_MODE'
  | 'ERR_SERVER_RESPONSE'
  | 'ERR_TRANSPORT'
  | 'ERR_CLIENT_NOT_STARTED'
  | 'ERR_INVALID_CLIENT_INPUT'
  | 'ERR_UNKNOWN_PEER'
  | 'ERR_GROUP_MEMBERSHIP'
  | 'ERR_PEER_IDENTITY_CHANGED'
  | 'ERR_FORGED_ROUTING'
  | 'ERR_WAIT_TIMEOUT'
  | 'ERR_HELD_LIMIT'
  | 'ERR_AUDIT_MERKLE_PROOF'
  | 'ERR_AUDIT_MERKLE_STORE'
  | 'ERR_AUDIT_CHECKPOINT_FORMAT'
  | 'ERR_AUDIT_NOTE_SIGNATURE'
  | 'ERR_AUDIT_CHECKPOINT_INCONSISTENT'
  | 'ERR_AUDIT_FORMAT'
  | 'ERR_AUDIT_STATE'
  | 'ERR_AUDIT_ATTESTATION'
  | 'ERR_AUDIT_ACCESS_DENIED'
  | 'ERR_KEY_TRANSPARENCY'
  | StorageErrorCode
  | 'ERR_UNEXPECTED';

/** Base class of every error this package throws. */
export class Pqe2eeError<C extends Pqe2eeErrorCode = Pqe2eeErrorCode> extends Error {
  /** Stable machine-readable code, e.g. `ERR_INVALID_LENGTH`. */
  readonly code: C;

  constructor(code: C, message: string, options?: { cause?: unknown }) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    if (options && 'cause' in options) (this as { cause?: unknown }).cause = options.cause;
  }
}

/**
 * A failure that is not one of this package's errors (a bug, or an exception thrown by an
 * application's plugin or listener), wrapped so that the client's `error` event always carries a
 * {@link Pqe2eeError}. The original is the `cause`.
 */
export class UnexpectedError extends Pqe2eeError<'ERR_UNEXPECTED'> {
  constructor(cause: unknown) {
    super('ERR_UNEXPECTED', cause instanceof Error ? cause.message : String(cause), { cause });
  }
}

/** `error` itself if it is a {@link Pqe2eeError}, else the error wrapped in an {@link UnexpectedError}. */
export function asPqe2eeError(error: unknown): Pqe2eeError {
  return error instanceof Pqe2eeError ? error : new UnexpectedError(error);
}

/**
 * Codes that mean "this device could not do the work now", not "the input is bad": the storage
 * failed (any storage failure, including a wrong storage key: it is never the message's fault).
 * The client runtime keeps a message queued at the server when handling it fails with one of these.
 */
export const TRANSIENT_ERROR_CODES: ReadonlySet<Pqe2eeErrorCode> = new Set<Pqe2eeErrorCode>([
  'ERR_STORAGE_IO',
  'ERR_STORAGE_LOCKED',
  'ERR_STORAGE_CLOSED',
  'ERR_STORAGE_CORRUPTED',
  'ERR_STORAGE_UNAVAILABLE',
  'ERR_WRONG_STORAGE_KEY',
]);

// ---- Crypto core and bindings ------------------------------------------------------------------

/** An argument has the wrong byte length, or exceeds a documented limit. */
export class InvalidLengthError extends Pqe2eeError<'ERR_INVALID_LENGTH'> {
  constructor(message: string) {
    super('ERR_INVALID_LENGTH', message);
  }
}

/** An argument is not a `Uint8Array` (or not an integer where one is required). */
export class InvalidTypeError extends Pqe2eeError<'ERR_INVALID_TYPE'> {
  constructor(message: string) {
    super('ERR_INVALID_TYPE', message);
  }
}

/** A key is malformed: fails a FIPS 203 input check, or an X25519 result is all-zero. */
export class InvalidKeyError extends Pqe2eeError<'ERR_INVALID_KEY'> {
  constructor(message: string) {
    super('ERR_INVALID_KEY', message);
  }
}

/** AEAD authentication failed: wrong key, nonce, associated data, or tampered ciphertext/tag. */
export class DecryptionFailedError extends Pqe2eeError<'ERR_DECRYPTION_FAILED'> {
  constructor(message = 'decryption failed: authentication tag mismatch') {
    super('ERR_DECRYPTION_FAILED', message);
  }
}

/** `getSuite` was given an id or name that no suite has. */
export class UnknownSuiteError extends Pqe2eeError<'ERR_UNKNOWN_SUITE'> {
  constructor(message: string) {
    super('ERR_UNKNOWN_SUITE', message);
  }
}

/** The wasm core was used before it was ready and could not be started synchronously. */
export class CoreNotReadyError extends Pqe2eeError<'ERR_CORE_NOT_READY'> {
  constructor(message: string) {
    super('ERR_CORE_NOT_READY', message);
  }
}

/** The wasm core reported a failure that no other error describes (e.g. out of memory). */
export class CoreError extends Pqe2eeError<'ERR_CORE'> {
  constructor(message: string) {
    super('ERR_CORE', message);
  }
}

// ---- Protocol ----------------------------------------------------------------------------------

/** Bytes that do not decode as the expected message, with wrong sizes inside, or an unknown version. */
export class MalformedMessageError extends Pqe2eeError<'ERR_MALFORMED_MESSAGE'> {
  constructor(message: string) {
    super('ERR_MALFORMED_MESSAGE', message);
  }
}

/**
 * A bundle, invite, message or session state of another protocol version: v1 (the KEM double
 * ratchet with a whole KEM key and ciphertext in every message) is refused, not migrated — a v1
 * session has no epoch root to continue from, so both sides open a new session.
 */
export class UnsupportedProtocolVersionError extends Pqe2eeError<'ERR_UNSUPPORTED_PROTOCOL_VERSION'> {
  constructor(message: string) {
    super('ERR_UNSUPPORTED_PROTOCOL_VERSION', message);
  }
}

/** A bundle, invite or message of a different cipher suite than the account or session. */
export class SuiteMismatchError extends Pqe2eeError<'ERR_SUITE_MISMATCH'> {
  constructor(message: string) {
    super('ERR_SUITE_MISMATCH', message);
  }
}

/** A signature (e.g. on a signed pre-key) does not verify. */
export class InvalidSignatureError extends Pqe2eeError<'ERR_INVALID_SIGNATURE'> {
  constructor(message: string) {
    super('ERR_INVALID_SIGNATURE', message);
  }
}

/** An invite names a signed or one-time pre-key this account does not (or no longer) have. */
export class UnknownPreKeyError extends Pqe2eeError<'ERR_UNKNOWN_PRE_KEY'> {
  constructor(message: string) {
    super('ERR_UNKNOWN_PRE_KEY', message);
  }
}

/** The same invite was accepted before. */
export class DuplicateInviteError extends Pqe2eeError<'ERR_DUPLICATE_INVITE'> {
  constructor(message = 'this invite was already accepted') {
    super('ERR_DUPLICATE_INVITE', message);
  }
}

/** An outbound session was used before its AcceptMsg arrived. */
export class SessionNotReadyError extends Pqe2eeError<'ERR_SESSION_NOT_READY'> {
  constructor(message = 'the session is waiting for the AcceptMsg: queue the message until complete(accept)') {
    super('ERR_SESSION_NOT_READY', message);
  }
}

/** A message whose index was already decrypted, or whose key has been deleted. */
export class ReplayError extends Pqe2eeError<'ERR_REPLAY'> {
  constructor(message = 'message already decrypted (replay) or its key was deleted') {
    super('ERR_REPLAY', message);
  }
}

/** A message would skip more message keys than the configured limit. */
export class TooManySkippedMessagesError extends Pqe2eeError<'ERR_TOO_MANY_SKIPPED'> {
  constructor(message: string) {
    super('ERR_TOO_MANY_SKIPPED', message);
  }
}

/** A message was encapsulated to a ratchet key this side does not (or no longer) hold. */
export class UnknownRatchetKeyError extends Pqe2eeError<'ERR_UNKNOWN_RATCHET_KEY'> {
  constructor(message: string) {
    super('ERR_UNKNOWN_RATCHET_KEY', message);
  }
}

/** An operation that the session's state does not allow (complete twice, a foreign accept, unknown state version). */
export class SessionStateError extends Pqe2eeError<'ERR_SESSION_STATE'> {
  constructor(message: string) {
    super('ERR_SESSION_STATE', message);
  }
}

/** A group bundle or message for an epoch this member does not have (too old, pruned, or never received). */
export class UnknownEpochError extends Pqe2eeError<'ERR_UNKNOWN_EPOCH'> {
  constructor(message: string) {
    super('ERR_UNKNOWN_EPOCH', message);
  }
}

/** A group epoch bundle that is older than the current epoch, or conflicts with one already applied. */
export class EpochConflictError extends Pqe2eeError<'ERR_EPOCH_CONFLICT'> {
  constructor(message: string) {
    super('ERR_EPOCH_CONFLICT', message);
  }
}

/** A group message or bundle from someone who is not a member of that epoch, or a bundle that leaves this device out. */
export class NotAMemberError extends Pqe2eeError<'ERR_NOT_A_MEMBER'> {
  constructor(message: string) {
    super('ERR_NOT_A_MEMBER', message);
  }
}

/**
 * A group message of a 'sender-key' group whose sender's key announcement for that epoch this
 * device has not received yet (it rides in the sender's first message of the epoch). Nothing
 * changed: hold the message and decrypt it again once the announcement has arrived.
 */
export class MissingSenderKeyError extends Pqe2eeError<'ERR_MISSING_SENDER_KEY'> {
  constructor(message: string) {
    super('ERR_MISSING_SENDER_KEY', message);
  }
}

/**
 * A sender-key announcement that differs from the one already stored for that member and epoch, or
 * a message past the end of an epoch's chain that its sender announced in a later epoch: refused,
 * nothing changed.
 */
export class SenderKeyConflictError extends Pqe2eeError<'ERR_SENDER_KEY_CONFLICT'> {
  constructor(message: string) {
    super('ERR_SENDER_KEY_CONFLICT', message);
  }
}

/**
 * A group message or bundle of another group-auth mode than the group's ('sender-key' or
 * 'identity', fixed when the group was created): refused, so no one can move a group to the
 * weaker mode.
 */
export class GroupAuthModeError extends Pqe2eeError<'ERR_GROUP_AUTH_MODE'> {
  constructor(message: string) {
    super('ERR_GROUP_AUTH_MODE', message);
  }
}

// ---- Storage -----------------------------------------------------------------------------------

/** Base class of every error thrown by a database handler of this package. */
export class StorageError<C extends StorageErrorCode = StorageErrorCode> extends Pqe2eeError<C> {}

/** The key or passphrase given to `encryptDatabase` does not open this database (checked at open). */
export class WrongStorageKeyError extends StorageError<'ERR_WRONG_STORAGE_KEY'> {
  constructor(message = 'the storage key or passphrase does not open this database') {
    super('ERR_WRONG_STORAGE_KEY', message);
  }
}

/** A stored record or the database's metadata fails authentication, is malformed, or has an unknown format. */
export class StorageCorruptedError extends StorageError<'ERR_STORAGE_CORRUPTED'> {
  constructor(message: string) {
    super('ERR_STORAGE_CORRUPTED', message);
  }
}

/** The handler was closed (or is closing) before this operation. */
export class StorageClosedError extends StorageError<'ERR_STORAGE_CLOSED'> {
  constructor(message = 'the database handler is closed') {
    super('ERR_STORAGE_CLOSED', message);
  }
}

/** A transaction object was used after its transaction finished (committed or rolled back). */
export class TransactionFinishedError extends StorageError<'ERR_TRANSACTION_FINISHED'> {
  constructor(message = 'this transaction has already finished: use the handler to start a new one') {
    super('ERR_TRANSACTION_FINISHED', message);
  }
}

/** A namespace or key is not a non-empty, well-formed string within the size limit, or a value is not a Uint8Array. */
export class InvalidStorageInputError extends StorageError<'ERR_INVALID_STORAGE_INPUT'> {
  constructor(message: string) {
    super('ERR_INVALID_STORAGE_INPUT', message);
  }
}

/** The namespace is reserved for the storage layer's own metadata (see RESERVED_NAMESPACE_PREFIX). */
export class ReservedNamespaceError extends StorageError<'ERR_RESERVED_NAMESPACE'> {
  constructor(namespace: string) {
    super('ERR_RESERVED_NAMESPACE', `namespace ${JSON.stringify(namespace)} is reserved for the storage layer`);
  }
}

/** A storage backend is not available here (e.g. the optional dependency better-sqlite3 is not installed). */
export class StorageUnavailableError extends StorageError<'ERR_STORAGE_UNAVAILABLE'> {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_STORAGE_UNAVAILABLE', message, options);
  }
}

/** The database file was written by a newer version of this package, or is not a pqe2ee store at all. */
export class UnsupportedStorageVersionError extends StorageError<'ERR_UNSUPPORTED_STORAGE_VERSION'> {
  constructor(message: string) {
    super('ERR_UNSUPPORTED_STORAGE_VERSION', message);
  }
}

/** The database file is held by another open handler (another process, or another handler in this one). */
export class StorageLockedError extends StorageError<'ERR_STORAGE_LOCKED'> {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_STORAGE_LOCKED', message, options);
  }
}

/** The underlying database engine failed (I/O error, disk full, ...); the transaction was not committed. */
export class StorageIoError extends StorageError<'ERR_STORAGE_IO'> {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_STORAGE_IO', message, options);
  }
}

// ---- Transport ---------------------------------------------------------------------------------

/**
 * The server answered with a response code other than the success codes the call expects. `reason`
 * is the server's human-readable reason (it never contains secrets: the server holds none).
 */
export class ServerResponseError extends Pqe2eeError<'ERR_SERVER_RESPONSE'> {
  readonly responseCode: number;
  readonly rpc: string;
  readonly reason: string;

  /** `responseName` is the code's name in service.proto (kept out of this module so it has no imports). */
  constructor(rpc: string, responseCode: number, responseName: string, reason: string) {
    super('ERR_SERVER_RESPONSE', `${rpc}: ${responseName} (${reason || 'no reason given'})`);
    this.rpc = rpc;
    this.responseCode = responseCode;
    this.reason = reason;
  }
}

/**
 * The request did not get a protocol answer: network failure, timeout, or a Connect-level error
 * (e.g. a request the server could not decode, reported as RESPONSE_CODE_BAD_REQUEST).
 */
export class TransportError extends Pqe2eeError<'ERR_TRANSPORT'> {
  readonly responseCode: number;
  readonly rpc: string;

  constructor(rpc: string, responseCode: number, message: string) {
    super('ERR_TRANSPORT', `${rpc}: ${message}`);
    this.rpc = rpc;
    this.responseCode = responseCode;
  }
}

// ---- Client runtime ----------------------------------------------------------------------------

/** A call needs a started client (after `start()` and before `stop()`). */
export class ClientNotStartedError extends Pqe2eeError<'ERR_CLIENT_NOT_STARTED'> {
  constructor(message = 'the client is not started: call start() first') {
    super('ERR_CLIENT_NOT_STARTED', message);
  }
}

/** Bad arguments to a client call (ids, bodies, options). */
export class InvalidClientInputError extends Pqe2eeError<'ERR_INVALID_CLIENT_INPUT'> {
  constructor(message: string) {
    super('ERR_INVALID_CLIENT_INPUT', message);
  }
}

/** The named user, device or group is unknown to this device or to the server. */
export class UnknownPeerError extends Pqe2eeError<'ERR_UNKNOWN_PEER'> {
  constructor(message: string) {
    super('ERR_UNKNOWN_PEER', message);
  }
}

/** This device is not (or no longer) a member of the group, or may not make the change asked for. */
export class GroupMembershipError extends Pqe2eeError<'ERR_GROUP_MEMBERSHIP'> {
  constructor(message: string) {
    super('ERR_GROUP_MEMBERSHIP', message);
  }
}

/**
 * A known device presented another identity key (or the server's address for a message does not
 * match the session it decrypted in). Refused unless the client was created with
 * `acceptIdentityChanges: true`; compare the new fingerprint out of band.
 */
export class PeerIdentityChangedError extends Pqe2eeError<'ERR_PEER_IDENTITY_CHANGED'> {
  constructor(message: string) {
    super('ERR_PEER_IDENTITY_CHANGED', message);
  }
}

/** The server's routing data for a message contradicts what the message authenticates. */
export class ForgedRoutingError extends Pqe2eeError<'ERR_FORGED_ROUTING'> {
  constructor(message: string) {
    super('ERR_FORGED_ROUTING', message);
  }
}

/** `waitFor` saw no matching event in time. */
export class WaitTimeoutError extends Pqe2eeError<'ERR_WAIT_TIMEOUT'> {
  constructor(message: string) {
    super('ERR_WAIT_TIMEOUT', message);
  }
}

/**
 * A group message that arrived before its epoch's bundle was not held: the allowance of held
 * messages (per group, for groups this device has not joined, or in all) is used up. It is dropped
 * and reported; the limits are in docs/client.md.
 */
export class HeldMessageLimitError extends Pqe2eeError<'ERR_HELD_LIMIT'> {
  constructor(message: string) {
    super('ERR_HELD_LIMIT', message);
  }
}

// ---- Audit log ---------------------------------------------------------------------------------

/** A Merkle inclusion or consistency proof does not verify, or its sizes/hashes are malformed. */
export class MerkleProofError extends Pqe2eeError<'ERR_AUDIT_MERKLE_PROOF'> {
  constructor(message: string) {
    super('ERR_AUDIT_MERKLE_PROOF', message);
  }
}

/**
 * The node store behind a Merkle tree cannot answer: a leaf it should hold is missing or is not a
 * 32-byte hash, or a size/index beyond the tree was asked for.
 */
export class MerkleStoreError extends Pqe2eeError<'ERR_AUDIT_MERKLE_STORE'> {
  constructor(message: string) {
    super('ERR_AUDIT_MERKLE_STORE', message);
  }
}

/** Checkpoint or signed-note text that does not parse under the strict C2SP rules, or is too large. */
export class CheckpointFormatError extends Pqe2eeError<'ERR_AUDIT_CHECKPOINT_FORMAT'> {
  constructor(message: string) {
    super('ERR_AUDIT_CHECKPOINT_FORMAT', message);
  }
}

/** A signed note carries no valid signature from a known key, or a known key's signature fails. */
export class NoteSignatureError extends Pqe2eeError<'ERR_AUDIT_NOTE_SIGNATURE'> {
  constructor(message: string) {
    super('ERR_AUDIT_NOTE_SIGNATURE', message);
  }
}

/**
 * A checkpoint is inconsistent with one signed before: a smaller size, a different root at the
 * same size, or a consistency proof that does not verify. The TLM must never sign such a pair.
 */
export class InconsistentCheckpointError extends Pqe2eeError<'ERR_AUDIT_CHECKPOINT_INCONSISTENT'> {
  constructor(message: string) {
    super('ERR_AUDIT_CHECKPOINT_INCONSISTENT', message);
  }
}

/** Audit entry or writer-state bytes that do not decode, or values outside their bounds. */
export class AuditFormatError extends Pqe2eeError<'ERR_AUDIT_FORMAT'> {
  constructor(message: string) {
    super('ERR_AUDIT_FORMAT', message);
  }
}

/** A log writer used out of order: appending past the limit, committing with nothing pending, after dispose. */
export class AuditStateError extends Pqe2eeError<'ERR_AUDIT_STATE'> {
  constructor(message: string) {
    super('ERR_AUDIT_STATE', message);
  }
}

/** An attestation statement is malformed, not signed by the expected key, or answers another nonce (a replay). */
export class AttestationError extends Pqe2eeError<'ERR_AUDIT_ATTESTATION'> {
  constructor(message: string) {
    super('ERR_AUDIT_ATTESTATION', message);
  }
}

/** The TLM refused to release a key: the verifier is not registered, or its entitlement does not cover the entry's categories. */
export class AuditAccessDeniedError extends Pqe2eeError<'ERR_AUDIT_ACCESS_DENIED'> {
  constructor(message: string) {
    super('ERR_AUDIT_ACCESS_DENIED', message);
  }
}

/**
 * A pre-key bundle failed its key-transparency check (docs/audit.md, "Key transparency"): no
 * inclusion proof, a checkpoint not signed by the log's key, a proof that does not verify, a log
 * entry that publishes other keys, or a checkpoint that is not consistent with one seen before
 * (a split view). The bundle is not used.
 */
export class KeyTransparencyError extends Pqe2eeError<'ERR_KEY_TRANSPARENCY'> {
  constructor(message: string) {
    super('ERR_KEY_TRANSPARENCY', message);
  }
}
