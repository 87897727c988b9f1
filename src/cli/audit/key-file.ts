/**
 * The verifier key file written by `pqe2ee audit register` and read by `pqe2ee audit verify`:
 * who the verifier is to the log, the ML-KEM-1024 key pair released entry keys are wrapped to, and
 * the log's note verifier key — the one key the verifier trusts, taken from the operator at
 * registration and never from a server answer.
 *
 *   { "version": 1, "server": URL, "verifierId": ID, "entitlement": MASK,
 *     "kemPublicKey": base64, "kemSecretKey": base64, "accessToken": base64,
 *     "logKey": "<name>+<id>+<key>" }
 *
 * The secret key opens every entry key released to this verifier, and the access token is what
 * makes the TLM release them at all (it stores only its SHA-256), so the file is created with
 * mode 0600 and never overwritten (a second registration must not destroy the first one's key).
 * A file written before ReleaseKeys needed a token has none and is refused: the TLM would answer
 * every ReleaseKeys with UNAUTHORIZED.
 */
import { closeSync, fstatSync, openSync, readFileSync, writeSync } from 'node:fs';
import { base64Decode, base64Encode } from '../../audit/base64.js';
import { auditPrimitives } from '../../audit/key-schedule.js';
import { type NoteVerifier, parseVerifierKey } from '../../audit/signed-note.js';
import { wipe } from '../../crypto/bytes.js';
import { InvalidClientInputError } from '../../errors.js';
import { parseEntitlement } from './entitlement.js';

export const VERIFIER_KEY_FILE_VERSION = 1;
/** A key file is ~6 KB; anything far larger is not one. */
const MAX_KEY_FILE_BYTES = 64 * 1024;
/** Bytes of a verifier's access token (audit.proto, RegisterVerifierRequest.access_token). */
export const ACCESS_TOKEN_BYTES = 32;
/** The TLM's rule for verifier ids (src/audit/tlm.ts). */
export const VERIFIER_ID_PATTERN = /^[\x21-\x7e]{1,128}$/;

/** A verifier's identity and keys, in memory. `kemSecretKey` and `accessToken` are secret: zero them when done. */
export interface VerifierKey {
  readonly server: string;
  readonly verifierId: string;
  readonly entitlement: number;
  readonly kemPublicKey: Uint8Array;
  readonly kemSecretKey: Uint8Array;
  /** The 32 bytes shown with every ReleaseKeys (never printed). */
  readonly accessToken: Uint8Array;
  /** The log's note verifier key, as text. */
  readonly logKeyText: string;
  /** The same key, parsed; its name is the log's origin. */
  readonly logKey: NoteVerifier;
}

/**
 * The log key from `--log-key`: the verifier key text itself, or the path of a file holding it
 * (surrounding whitespace ignored). Throws InvalidClientInputError when neither parses.
 */
export function readLogKey(textOrFile: string): { text: string; key: NoteVerifier } {
  const attempt = (text: string): { text: string; key: NoteVerifier } | undefined => {
    try {
      return { text, key: parseVerifierKey(text) };
    } catch {
      return undefined;
    }
  };
  const direct = attempt(textOrFile.trim());
  if (direct) return direct;
  let content: string;
  try {
    content = readBoundedFile(textOrFile, MAX_KEY_FILE_BYTES).toString('utf8');
  } catch (error) {
    throw new InvalidClientInputError(`--log-key is neither a verifier key nor a readable file (${error instanceof Error ? error.message : String(error)})`);
  }
  const fromFile = attempt(content.trim());
  if (!fromFile) throw new InvalidClientInputError(`${textOrFile.slice(0, 200)} does not hold a verifier key <name>+<key ID>+<key>`);
  return fromFile;
}

/** Builds the in-memory key after checking every field (used by both reading and registering). */
export function makeVerifierKey(fields: {
  server: string;
  verifierId: string;
  entitlement: number;
  kemPublicKey: Uint8Array;
  kemSecretKey: Uint8Array;
  accessToken: Uint8Array;
  logKeyText: string;
}): VerifierKey {
  if (!VERIFIER_ID_PATTERN.test(fields.verifierId)) throw new InvalidClientInputError('a verifier id is 1 to 128 printable ASCII characters without spaces');
  const { kemPublicKeyBytes, kemSecretKeyBytes } = auditPrimitives.params;
  if (fields.kemPublicKey.length !== kemPublicKeyBytes) throw new InvalidClientInputError(`the KEM public key must be ${kemPublicKeyBytes} bytes`);
  if (fields.kemSecretKey.length !== kemSecretKeyBytes) throw new InvalidClientInputError(`the KEM secret key must be ${kemSecretKeyBytes} bytes`);
  if (fields.accessToken.length !== ACCESS_TOKEN_BYTES) throw new InvalidClientInputError(`the access token must be ${ACCESS_TOKEN_BYTES} bytes`);
  parseEntitlement(String(fields.entitlement));
  return { ...fields, logKey: parseVerifierKey(fields.logKeyText) };
}

/** Reads and checks a key file. Throws InvalidClientInputError with what is wrong (never a key). */
export function readVerifierKeyFile(path: string): { key: VerifierKey; warning?: string } {
  const bytes = readBoundedFile(path, MAX_KEY_FILE_BYTES);
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new InvalidClientInputError(`${path.slice(0, 200)} is not a verifier key file (not JSON)`);
  } finally {
    // The buffer held the secret key's base64.
    bytes.fill(0);
  }
  if (typeof json !== 'object' || json === null || json.version !== VERIFIER_KEY_FILE_VERSION)
    throw new InvalidClientInputError(`${path.slice(0, 200)} is not a version-1 verifier key file`);
  const text = (name: string): string => {
    const value = json[name];
    if (typeof value !== 'string') throw new InvalidClientInputError(`the key file has no ${name}`);
    return value;
  };
  const bytesOf = (name: string): Uint8Array => {
    try {
      return base64Decode(text(name), name);
    } catch (error) {
      if (error instanceof InvalidClientInputError) throw error;
      throw new InvalidClientInputError(`the key file's ${name} is not canonical base64`);
    }
  };
  if (typeof json.entitlement !== 'number') throw new InvalidClientInputError('the key file has no entitlement');
  if (!Object.hasOwn(json, 'accessToken')) {
    throw new InvalidClientInputError(
      `${path.slice(0, 200)} has no accessToken: it was written before the TLM required one for ReleaseKeys. Register this verifier again (pqe2ee audit register, with a new --id and --out) and verify with the new key file`,
    );
  }
  const secrets: Uint8Array[] = [];
  const secret = (name: string): Uint8Array => {
    const value = bytesOf(name);
    secrets.push(value);
    return value;
  };
  let key: VerifierKey;
  try {
    key = makeVerifierKey({
      server: text('server'),
      verifierId: text('verifierId'),
      entitlement: json.entitlement,
      kemPublicKey: bytesOf('kemPublicKey'),
      kemSecretKey: secret('kemSecretKey'),
      accessToken: secret('accessToken'),
      logKeyText: text('logKey'),
    });
  } catch (error) {
    // A file refused halfway must not leave its secrets in memory.
    wipe(...secrets);
    throw error;
  }
  const mode = modeOf(path);
  const warning =
    mode !== undefined && (mode & 0o077) !== 0 ? `${path.slice(0, 200)} is readable by other users (mode ${(mode & 0o777).toString(8)}); it holds a secret key` : undefined;
  return warning ? { key, warning } : { key };
}

/**
 * Writes `key` to `path` with mode 0600; refuses (EEXIST) if anything is there already. The
 * serialised secrets are zeroed once written.
 */
export function writeVerifierKeyFile(path: string, key: VerifierKey): void {
  const json = JSON.stringify(
    {
      version: VERIFIER_KEY_FILE_VERSION,
      server: key.server,
      verifierId: key.verifierId,
      entitlement: key.entitlement,
      kemPublicKey: base64Encode(key.kemPublicKey),
      kemSecretKey: base64Encode(key.kemSecretKey),
      accessToken: base64Encode(key.accessToken),
      logKey: key.logKeyText,
    },
    null,
    2,
  );
  const data = Buffer.from(`${json}\n`, 'utf8');
  // 'wx': O_CREAT|O_EXCL, so an existing file (or a symlink planted in its place) is never written through.
  const fd = openSync(path, 'wx', 0o600);
  try {
    writeSync(fd, data);
  } finally {
    closeSync(fd);
    wipe(data);
  }
}

function readBoundedFile(path: string, maxBytes: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size > maxBytes) throw new InvalidClientInputError(`${path.slice(0, 200)} is larger than ${maxBytes} bytes`);
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}

function modeOf(path: string): number | undefined {
  try {
    const fd = openSync(path, 'r');
    try {
      return fstatSync(fd).mode;
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
}
