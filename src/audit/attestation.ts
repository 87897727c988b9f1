/**
 * The TLM's attestation statement: a fresh answer to a verifier's nonce that names the code the
 * TLM runs, the key that signs its checkpoints, and the latest checkpoint it signed.
 *
 * This is a SOFTWARE statement: it is signed by a key the TLM process holds, so it proves only
 * that whoever holds that key answered this nonce. It does not prove what hardware or code runs;
 * a TEE (SGX/TDX/SEV-SNP, Nitro) quote whose report data is SHA-256 of this statement's text
 * would bind the same fields to measured code (docs/audit.md).
 *
 * Format: a C2SP signed note whose text is
 *
 *   pqe2ee-attestation/v1
 *   nonce <base64, 16 to 64 bytes>
 *   code <64 lowercase hex: SHA-256 of the running code>
 *   checkpoint-key <verifier key text>
 *   checkpoint <size> <base64 root>
 *
 * Its second line is not a decimal size, so an attestation can never parse as a checkpoint
 * signed by the same key (and a checkpoint never parses as an attestation).
 */
import { base64Decode, base64Encode } from './base64.js';
import { MERKLE_HASH_BYTES } from './merkle.js';
import { type NoteSigner, type NoteVerifier, formatVerifierKey, openNote, signNote } from './signed-note.js';
import { AttestationError } from '../errors.js';

export const ATTESTATION_HEADER = 'pqe2ee-attestation/v1';
export const MIN_NONCE_BYTES = 16;
export const MAX_NONCE_BYTES = 64;

/** What an attestation states. */
export interface AttestationStatement {
  readonly nonce: Uint8Array;
  /** SHA-256 of the code the TLM says it runs, 64 lowercase hex digits. */
  readonly codeDigest: string;
  /** The checkpoint key, in verifier-key text form. */
  readonly checkpointKey: string;
  /** The latest checkpoint the TLM signed. */
  readonly checkpoint: { readonly size: number; readonly rootHash: Uint8Array };
}

function requireNonce(nonce: unknown): Uint8Array {
  if (!(nonce instanceof Uint8Array) || nonce.length < MIN_NONCE_BYTES || nonce.length > MAX_NONCE_BYTES) {
    throw new AttestationError(`the nonce must be ${MIN_NONCE_BYTES} to ${MAX_NONCE_BYTES} bytes`);
  }
  return nonce;
}

/** base64Decode with its format error reported as an attestation error. */
function decodeField(text: string, what: string): Uint8Array {
  try {
    return base64Decode(text, what);
  } catch (error) {
    throw new AttestationError(error instanceof Error ? error.message : String(error));
  }
}

function requireDigest(digest: unknown): string {
  if (typeof digest !== 'string' || !/^[0-9a-f]{64}$/.test(digest)) throw new AttestationError('the code digest must be 64 lowercase hex digits');
  return digest;
}

/** Signs an attestation of `statement` with the TLM's key (which it names as the checkpoint key). */
export function signAttestation(statement: Omit<AttestationStatement, 'checkpointKey'>, signer: NoteSigner): string {
  const { size, rootHash } = statement.checkpoint;
  if (!Number.isSafeInteger(size) || size < 0) throw new AttestationError('the checkpoint size must be a non-negative integer');
  if (!(rootHash instanceof Uint8Array) || rootHash.length !== MERKLE_HASH_BYTES) throw new AttestationError('the checkpoint root must be 32 bytes');
  const text = [
    ATTESTATION_HEADER,
    `nonce ${base64Encode(requireNonce(statement.nonce))}`,
    `code ${requireDigest(statement.codeDigest)}`,
    `checkpoint-key ${formatVerifierKey(signer)}`,
    `checkpoint ${size} ${base64Encode(rootHash)}`,
  ].join('\n');
  return signNote(`${text}\n`, [signer]);
}

/** Options of {@link verifyAttestation}. */
export interface VerifyAttestationOptions {
  /** The TLM key the verifier trusts (from its own configuration, never from the answer). */
  readonly key: NoteVerifier;
  /** The nonce this verifier just sent: an answer to any other nonce is a replay. */
  readonly nonce: Uint8Array;
  /** If given, the code digest the verifier expects; any other is refused. */
  readonly expectedCodeDigest?: string;
}

/**
 * Checks an attestation: signed by `key`, for `nonce`, naming `key` as the checkpoint key (and the
 * expected code, if given). Returns what it states; throws AttestationError otherwise.
 */
export function verifyAttestation(note: string, options: VerifyAttestationOptions): AttestationStatement {
  const nonce = requireNonce(options.nonce);
  let text: string;
  try {
    text = openNote(note, [options.key]).text;
  } catch (error) {
    throw new AttestationError(`the attestation is not a note signed by ${options.key.name}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const lines = text.split('\n');
  if (lines.length !== 6 || lines[5] !== '' || lines[0] !== ATTESTATION_HEADER) throw new AttestationError('the attestation does not have the five lines of pqe2ee-attestation/v1');
  const field = (line: number, name: string): string => {
    const value = lines[line] as string;
    if (!value.startsWith(`${name} `)) throw new AttestationError(`attestation line ${line + 1} must start with "${name} "`);
    return value.slice(name.length + 1);
  };
  const stated = decodeField(field(1, 'nonce'), 'nonce');
  if (stated.length !== nonce.length || stated.some((byte, i) => byte !== nonce[i]))
    throw new AttestationError('the attestation answers another nonce (a replayed or stale answer)');
  const codeDigest = requireDigest(field(2, 'code'));
  if (options.expectedCodeDigest !== undefined && codeDigest !== options.expectedCodeDigest) {
    throw new AttestationError(`the TLM runs code ${codeDigest}, not the expected ${options.expectedCodeDigest}`);
  }
  const checkpointKey = field(3, 'checkpoint-key');
  if (checkpointKey !== formatVerifierKey(options.key)) throw new AttestationError('the attestation names another checkpoint key than the one it is signed with');
  const checkpointMatch = /^(0|[1-9][0-9]{0,15}) (\S+)$/.exec(field(4, 'checkpoint'));
  const size = checkpointMatch ? Number(checkpointMatch[1]) : Number.NaN;
  if (!checkpointMatch || !Number.isSafeInteger(size)) throw new AttestationError('the attestation checkpoint line must be "<size> <base64 root>"');
  const rootHash = decodeField(checkpointMatch[2] as string, 'checkpoint root');
  if (rootHash.length !== MERKLE_HASH_BYTES) throw new AttestationError('the attestation checkpoint root must be 32 bytes');
  return { nonce: stated, codeDigest, checkpointKey, checkpoint: { size, rootHash } };
}
