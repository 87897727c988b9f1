/** Typed errors of the protocol layer; all extend Pqe2eeError with a stable `code`. */
import { Pqe2eeError } from '../../bindings/errors.js';

/** Bytes that do not decode as the expected message, with wrong sizes inside, or an unknown version. */
export class MalformedMessageError extends Pqe2eeError {
  constructor(message: string) {
    super('ERR_MALFORMED_MESSAGE', message);
  }
}

/** A bundle, invite or message of a different cipher suite than the account or session. */
export class SuiteMismatchError extends Pqe2eeError {
  constructor(message: string) {
    super('ERR_SUITE_MISMATCH', message);
  }
}

/** A signature (e.g. on a signed pre-key) does not verify. */
export class InvalidSignatureError extends Pqe2eeError {
  constructor(message: string) {
    super('ERR_INVALID_SIGNATURE', message);
  }
}

/** An invite names a signed or one-time pre-key this account does not (or no longer) have. */
export class UnknownPreKeyError extends Pqe2eeError {
  constructor(message: string) {
    super('ERR_UNKNOWN_PRE_KEY', message);
  }
}

/** The same invite was accepted before. */
export class DuplicateInviteError extends Pqe2eeError {
  constructor(message = 'this invite was already accepted') {
    super('ERR_DUPLICATE_INVITE', message);
  }
}

/** An outbound session was used before its AcceptMsg arrived. */
export class SessionNotReadyError extends Pqe2eeError {
  constructor(message = 'the session is waiting for the AcceptMsg: queue the message until complete(accept)') {
    super('ERR_SESSION_NOT_READY', message);
  }
}

/** A message whose index was already decrypted, or whose key has been deleted. */
export class ReplayError extends Pqe2eeError {
  constructor(message = 'message already decrypted (replay) or its key was deleted') {
    super('ERR_REPLAY', message);
  }
}

/** A message would skip more message keys than the configured limit. */
export class TooManySkippedMessagesError extends Pqe2eeError {
  constructor(message: string) {
    super('ERR_TOO_MANY_SKIPPED', message);
  }
}

/** A message was encapsulated to a ratchet key this side does not (or no longer) hold. */
export class UnknownRatchetKeyError extends Pqe2eeError {
  constructor(message: string) {
    super('ERR_UNKNOWN_RATCHET_KEY', message);
  }
}

/** An operation that the session's state does not allow (complete twice, a foreign accept, unknown state version). */
export class SessionStateError extends Pqe2eeError {
  constructor(message: string) {
    super('ERR_SESSION_STATE', message);
  }
}

/** A group bundle or message for an epoch this member does not have (too old, pruned, or never received). */
export class UnknownEpochError extends Pqe2eeError {
  constructor(message: string) {
    super('ERR_UNKNOWN_EPOCH', message);
  }
}

/** A group epoch bundle that is older than the current epoch, or conflicts with one already applied. */
export class EpochConflictError extends Pqe2eeError {
  constructor(message: string) {
    super('ERR_EPOCH_CONFLICT', message);
  }
}

/** A group message or bundle from someone who is not a member of that epoch, or a bundle that leaves this device out. */
export class NotAMemberError extends Pqe2eeError {
  constructor(message: string) {
    super('ERR_NOT_A_MEMBER', message);
  }
}
