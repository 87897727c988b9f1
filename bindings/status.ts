/** Maps the core's status codes (native/pqe2ee_core.h) to typed errors. */
import { CoreError, DecryptionFailedError, InvalidKeyError, InvalidLengthError } from '../src/errors.js';

export const STATUS_OK = 0;
export const STATUS_INVALID_LENGTH = -1;
export const STATUS_INVALID_KEY = -2;
export const STATUS_AUTH = -3;
export const STATUS_BAD_SIGNATURE = -4;

/** Throws the error for a non-zero status; `what` names the operation (never a value). */
export function check(status: number, what: string): void {
  if (status === STATUS_OK) return;
  switch (status) {
    case STATUS_INVALID_LENGTH:
      throw new InvalidLengthError(`${what}: invalid length`);
    case STATUS_INVALID_KEY:
      throw new InvalidKeyError(`${what}: invalid key`);
    case STATUS_AUTH:
      throw new DecryptionFailedError();
    default:
      throw new CoreError(`${what}: core status ${status}`);
  }
}
