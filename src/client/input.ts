/** Checks of what an app passes to the client: ids, message bodies, options and limits. */
import { DEFAULT_RUNTIME_LIMITS, type RuntimeLimits } from './context.js';
import { InvalidClientInputError } from '../errors.js';
import type { SendOptions } from './send.js';

/** A device id: 1-64 characters of [A-Za-z0-9._-]. */
export const DEVICE_ID = /^[A-Za-z0-9._-]{1,64}$/;
/** Largest message body; the protocol limit is higher, this keeps one message per request well under the server's. */
export const MAX_BODY_BYTES = 1024 * 1024;
const ID_LIMIT = 256;

export function runtimeLimits(limits: Partial<RuntimeLimits> | undefined): RuntimeLimits {
  if (limits === undefined) return DEFAULT_RUNTIME_LIMITS;
  if (typeof limits !== 'object' || limits === null) throw new InvalidClientInputError('limits must be an object');
  const resolved = { ...DEFAULT_RUNTIME_LIMITS, ...limits };
  for (const [name, value] of Object.entries(resolved)) {
    if (!Number.isSafeInteger(value) || value < 1) throw new InvalidClientInputError(`limits.${name} must be a positive integer`);
  }
  return resolved;
}

export function requireId(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > ID_LIMIT) throw new InvalidClientInputError(`${what} must be a string of 1 to ${ID_LIMIT} characters`);
  return value;
}

export function requireIds(value: unknown, what: string): string[] {
  if (!Array.isArray(value) || value.length === 0) throw new InvalidClientInputError(`${what} must be a non-empty list`);
  if (value.length > 1000) throw new InvalidClientInputError(`${what} lists more than 1000 entries`);
  return value.map((v) => requireId(v, what));
}

export function requireOptions<T extends object>(options: T | undefined): T | Record<string, never> {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null) throw new InvalidClientInputError('options must be an object (or left out)');
  return options;
}

export function bodyBytes(body: unknown): Uint8Array {
  const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : body;
  if (!(bytes instanceof Uint8Array)) throw new InvalidClientInputError('body must be a string or a Uint8Array');
  if (bytes.length > MAX_BODY_BYTES) throw new InvalidClientInputError(`body is over ${MAX_BODY_BYTES} bytes`);
  return bytes;
}

export function expiry(options: SendOptions | undefined): bigint {
  const ms = (requireOptions(options) as SendOptions).expiresInMs ?? 0;
  if (!Number.isSafeInteger(ms) || ms < 0) throw new InvalidClientInputError('expiresInMs must be a non-negative integer');
  return BigInt(ms);
}
