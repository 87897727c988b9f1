/**
 * Where `pqe2ee audit register` takes the TLM's admin token from. `--admin-token TOKEN` puts it in
 * `ps` output and shell history, so it may also come from a file (`--admin-token-file PATH`) or
 * the environment (PQE2EE_AUDIT_ADMIN_TOKEN). Exactly one source: two given at once is more
 * likely a mistake (an old variable still exported) than an intention, and guessing which one
 * wins would register with the wrong token.
 */
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { InvalidClientInputError } from '../../errors.js';
import { optional, type ParsedOptions } from './args.js';

/** The environment variable holding the admin token. */
export const ADMIN_TOKEN_ENV = 'PQE2EE_AUDIT_ADMIN_TOKEN';
/** An admin token is a few dozen characters; a file far larger is not one. */
const MAX_TOKEN_FILE_BYTES = 4096;

/**
 * The admin token from exactly one of `--admin-token`, `--admin-token-file` (its content, without
 * surrounding whitespace) and `env[ADMIN_TOKEN_ENV]` (an empty variable counts as unset). Throws
 * InvalidClientInputError for none, several, or an empty or unreadable file.
 */
export function resolveAdminToken(options: ParsedOptions, env: Readonly<Record<string, string | undefined>>): string {
  const direct = optional(options, '--admin-token');
  const file = optional(options, '--admin-token-file');
  const fromEnv = env[ADMIN_TOKEN_ENV] === '' ? undefined : env[ADMIN_TOKEN_ENV];
  const given = [direct !== undefined, file !== undefined, fromEnv !== undefined].filter(Boolean).length;
  if (given !== 1) {
    throw new InvalidClientInputError(
      `give the admin token exactly once: --admin-token-file PATH, the environment variable ${ADMIN_TOKEN_ENV}, or --admin-token TOKEN (${given} given)`,
    );
  }
  const token = file !== undefined ? readTokenFile(file) : (direct ?? fromEnv ?? '');
  if (token.length === 0) throw new InvalidClientInputError('the admin token is empty');
  return token;
}

function readTokenFile(path: string): string {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    throw new InvalidClientInputError(`--admin-token-file ${path.slice(0, 200)} cannot be read (${error instanceof Error ? error.message : String(error)})`);
  }
  try {
    if (fstatSync(fd).size > MAX_TOKEN_FILE_BYTES) throw new InvalidClientInputError(`--admin-token-file ${path.slice(0, 200)} is larger than ${MAX_TOKEN_FILE_BYTES} bytes`);
    // A trailing newline (echo TOKEN > file) is not part of the token.
    return readFileSync(fd, 'utf8').trim();
  } finally {
    closeSync(fd);
  }
}
