/** Errors of the client runtime; all extend Pqe2eeError with a stable `code`. */
import { Pqe2eeError } from '../../bindings/errors.js';

/** A call needs a started client (after `start()` and before `stop()`). */
export class ClientNotStartedError extends Pqe2eeError {
  constructor(message = 'the client is not started: call start() first') {
    super('ERR_CLIENT_NOT_STARTED', message);
  }
}

/** Bad arguments to a client call (ids, bodies, options). */
export class InvalidClientInputError extends Pqe2eeError {
  constructor(message: string) {
    super('ERR_INVALID_CLIENT_INPUT', message);
  }
}

/** The named user, device or group is unknown to this device or to the server. */
export class UnknownPeerError extends Pqe2eeError {
  constructor(message: string) {
    super('ERR_UNKNOWN_PEER', message);
  }
}

/** This device is not (or no longer) a member of the group, or may not make the change asked for. */
export class GroupMembershipError extends Pqe2eeError {
  constructor(message: string) {
    super('ERR_GROUP_MEMBERSHIP', message);
  }
}

/**
 * A known device presented another identity key (or the server's address for a message does not
 * match the session it decrypted in). Refused unless the client was created with
 * `acceptIdentityChanges: true`; compare the new fingerprint out of band.
 */
export class PeerIdentityChangedError extends Pqe2eeError {
  constructor(message: string) {
    super('ERR_PEER_IDENTITY_CHANGED', message);
  }
}

/** The server's routing data for a message contradicts what the message authenticates. */
export class ForgedRoutingError extends Pqe2eeError {
  constructor(message: string) {
    super('ERR_FORGED_ROUTING', message);
  }
}

/** `waitFor` saw no matching event in time. */
export class WaitTimeoutError extends Pqe2eeError {
  constructor(message: string) {
    super('ERR_WAIT_TIMEOUT', message);
  }
}

/**
 * A group message that arrived before its epoch's bundle was not held: the allowance of held
 * messages (per group, for groups this device has not joined, or in all) is used up. It is dropped
 * and reported; the limits are in docs/client.md.
 */
export class HeldMessageLimitError extends Pqe2eeError {
  constructor(message: string) {
    super('ERR_HELD_LIMIT', message);
  }
}
