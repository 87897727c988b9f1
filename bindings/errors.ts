/**
 * Typed errors of pqe2ee. Every error the library throws extends {@link Pqe2eeError} and carries a
 * stable `code`; messages name the argument and the expected size, never secret values.
 */
export class Pqe2eeError extends Error {
  /** Stable machine-readable code, e.g. `ERR_INVALID_LENGTH`. */
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/** An argument has the wrong byte length, or exceeds a documented limit. */
export class InvalidLengthError extends Pqe2eeError {
  constructor(message: string) {
    super('ERR_INVALID_LENGTH', message);
  }
}

/** An argument is not a `Uint8Array` (or not an integer where one is required). */
export class InvalidTypeError extends Pqe2eeError {
  constructor(message: string) {
    super('ERR_INVALID_TYPE', message);
  }
}

/** A key is malformed: fails a FIPS 203 input check, or an X25519 result is all-zero. */
export class InvalidKeyError extends Pqe2eeError {
  constructor(message: string) {
    super('ERR_INVALID_KEY', message);
  }
}

/** AEAD authentication failed: wrong key, nonce, associated data, or tampered ciphertext/tag. */
export class DecryptionFailedError extends Pqe2eeError {
  constructor(message = 'decryption failed: authentication tag mismatch') {
    super('ERR_DECRYPTION_FAILED', message);
  }
}

/** `getSuite` was given an id or name that no suite has. */
export class UnknownSuiteError extends Pqe2eeError {
  constructor(message: string) {
    super('ERR_UNKNOWN_SUITE', message);
  }
}

/** The wasm core was used before it was ready and could not be started synchronously. */
export class CoreNotReadyError extends Pqe2eeError {
  constructor(message: string) {
    super('ERR_CORE_NOT_READY', message);
  }
}

/** The wasm core reported a failure that no other error describes (e.g. out of memory). */
export class CoreError extends Pqe2eeError {
  constructor(message: string) {
    super('ERR_CORE', message);
  }
}
