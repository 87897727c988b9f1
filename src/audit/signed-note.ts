/**
 * C2SP signed notes (c2sp.org/signed-note): a UTF-8 text ending in a newline, a blank line, then
 * one or more lines "— <key name> <base64(key ID ‖ signature)>". The signature covers the text
 * including its final newline. Checkpoints (checkpoint.ts) are signed notes.
 *
 * Signature types. The key ID is the first four bytes of SHA-256(name ‖ 0x0A ‖ type ‖ public key).
 * The spec assigns type bytes 0x01–0x05 (0x01 = Ed25519), reserves 0xfa–0xfe, and reserves 0xff
 * for types it has not assigned, RECOMMENDING that 0xff be followed by a longer identifier. No
 * byte is assigned to a plain ML-DSA-87 (or our hybrid) note signature, so we use 0xff plus a label:
 *
 *   suite 1  ML-DSA-87 (empty context)     type = 0xff ‖ "pqe2ee/v1/ML-DSA-87"
 *   suite 2  Ed25519 (RFC 8032)            type = 0x01   (interoperable with Go's sumdb/note)
 *   suite 3  ML-DSA-65 + Ed25519 hybrid    type = 0xff ‖ "pqe2ee/v1/ML-DSA-65+Ed25519"
 *
 * A note key must be used for notes only: the signature is over the bare note text.
 */
import type { CipherSuite } from '../crypto/suite.js';
import { getSuite } from '../crypto/suites.js';
import { concatBytes, label } from '../crypto/bytes.js';
import { sha256 } from '../../bindings/hash.js';
import { base64Decode, base64Encode } from './base64.js';
import { CheckpointFormatError, NoteSignatureError } from '../errors.js';

/** The note signature type identifiers above, by suite id. */
export const NOTE_SIGNATURE_TYPES: Readonly<Record<1 | 2 | 3, Uint8Array>> = {
  1: concatBytes(new Uint8Array([0xff]), label('pqe2ee/v1/ML-DSA-87')),
  2: new Uint8Array([0x01]),
  3: concatBytes(new Uint8Array([0xff]), label('pqe2ee/v1/ML-DSA-65+Ed25519')),
};

/** Largest note accepted (a post-quantum signature line is ~6.2 KB; the spec asks for ≥ 16 lines). */
export const MAX_NOTE_BYTES = 1024 * 1024;
/** Most signature lines accepted in one note. */
export const MAX_NOTE_SIGNATURES = 100;
const MAX_KEY_NAME_BYTES = 256;
const EM_DASH_PREFIX = '\u2014 ';

const encoder = new TextEncoder();

/** A key that can check note signatures: a name, its key ID, and the scheme behind them. */
export interface NoteVerifier {
  readonly name: string;
  /** The 32-bit key ID (big-endian first four bytes of the key hash). */
  readonly keyId: number;
  readonly suiteId: 1 | 2 | 3;
  readonly publicKey: Uint8Array;
  verify(text: Uint8Array, signature: Uint8Array): boolean;
}

/** A key that can also sign. */
export interface NoteSigner extends NoteVerifier {
  sign(text: Uint8Array): Uint8Array;
}

/** One parsed signature line. */
export interface NoteSignature {
  readonly name: string;
  readonly keyId: number;
  readonly signature: Uint8Array;
}

/** Whether `text` has an ASCII control character (below U+0020), newline excepted when `allowNewline`. */
function hasControlCharacter(text: string, allowNewline: boolean): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 && !(allowNewline && code === 0x0a)) return true;
  }
  return false;
}

/** Throws unless `name` is a valid key name: non-empty, no Unicode space, no '+', bounded. */
export function requireKeyName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0 || encoder.encode(name).length > MAX_KEY_NAME_BYTES) {
    throw new CheckpointFormatError(`key name must be 1 to ${MAX_KEY_NAME_BYTES} bytes`);
  }
  if (/[\s\u0085+]/u.test(name) || /\p{Cs}/u.test(name) || hasControlCharacter(name, false)) {
    throw new CheckpointFormatError('key name contains a space, "+" or a control character');
  }
  return name;
}

/** SHA-256(name ‖ 0x0A ‖ type ‖ public key)[:4] as a big-endian uint32. */
export function noteKeyId(name: string, suiteId: 1 | 2 | 3, publicKey: Uint8Array): number {
  const hash = sha256(concatBytes(encoder.encode(requireKeyName(name)), new Uint8Array([0x0a]), NOTE_SIGNATURE_TYPES[suiteId], publicKey));
  return new DataView(hash.buffer, hash.byteOffset, 4).getUint32(0);
}

function suiteOf(suiteId: number): CipherSuite {
  if (suiteId !== 1 && suiteId !== 2 && suiteId !== 3) throw new CheckpointFormatError(`no note signature type for suite ${suiteId}`);
  return getSuite(suiteId);
}

/** A verifier for `publicKey` of suite `suiteId`'s signature scheme under key name `name`. */
export function noteVerifier(suiteId: 1 | 2 | 3, name: string, publicKey: Uint8Array): NoteVerifier {
  const suite = suiteOf(suiteId);
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== suite.params.sigPublicKeyBytes) {
    throw new CheckpointFormatError(`${suite.params.sigName} public key must be ${suite.params.sigPublicKeyBytes} bytes`);
  }
  const key = publicKey.slice();
  return {
    name,
    keyId: noteKeyId(name, suiteId, key),
    suiteId,
    publicKey: key,
    verify: (text, signature) => signature.length === suite.params.signatureBytes && suite.sig.verify(key, text, signature),
  };
}

/** A signer for a key pair of suite `suiteId`'s signature scheme. Keeps a reference to `secretKey`. */
export function noteSigner(suiteId: 1 | 2 | 3, name: string, keyPair: { publicKey: Uint8Array; secretKey: Uint8Array }): NoteSigner {
  const suite = suiteOf(suiteId);
  if (!(keyPair.secretKey instanceof Uint8Array) || keyPair.secretKey.length !== suite.params.sigSecretKeyBytes) {
    throw new CheckpointFormatError(`${suite.params.sigName} secret key must be ${suite.params.sigSecretKeyBytes} bytes`);
  }
  const verifier = noteVerifier(suiteId, name, keyPair.publicKey);
  return { ...verifier, sign: (text) => suite.sig.sign(keyPair.secretKey, text) };
}

/** Decodes note bytes as strict UTF-8 (a byte-order mark is kept, not stripped). */
export function decodeNoteBytes(bytes: Uint8Array): string {
  if (!(bytes instanceof Uint8Array) || bytes.length > MAX_NOTE_BYTES) throw new CheckpointFormatError(`note must be at most ${MAX_NOTE_BYTES} bytes`);
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new CheckpointFormatError('note is not valid UTF-8');
  }
}

/** Checks the rules every note text obeys: bounded, well-formed, no control characters but '\n', ends in '\n'. */
export function requireNoteText(text: unknown, what = 'note text'): string {
  if (typeof text !== 'string' || text.length === 0) throw new CheckpointFormatError(`${what} must be a non-empty string`);
  if (text.length > MAX_NOTE_BYTES || encoder.encode(text).length > MAX_NOTE_BYTES) throw new CheckpointFormatError(`${what} exceeds ${MAX_NOTE_BYTES} bytes`);
  if (/\p{Cs}/u.test(text)) throw new CheckpointFormatError(`${what} is not well-formed Unicode`);
  if (hasControlCharacter(text, true)) throw new CheckpointFormatError(`${what} contains a control character`);
  if (!text.endsWith('\n')) throw new CheckpointFormatError(`${what} must end with a newline`);
  return text;
}

/** Signs `text` with each signer and returns the signed note. */
export function signNote(text: string, signers: readonly NoteSigner[]): string {
  requireNoteText(text);
  if (signers.length === 0 || signers.length > MAX_NOTE_SIGNATURES) throw new CheckpointFormatError(`a note needs 1 to ${MAX_NOTE_SIGNATURES} signatures`);
  const message = encoder.encode(text);
  let note = `${text}\n`;
  for (const signer of signers) {
    const keyId = new Uint8Array(4);
    new DataView(keyId.buffer).setUint32(0, signer.keyId);
    note += `${EM_DASH_PREFIX}${requireKeyName(signer.name)} ${base64Encode(concatBytes(keyId, signer.sign(message)))}\n`;
  }
  return requireNoteText(note, 'signed note');
}

/** Splits a signed note into its text and signature lines, strictly; verifies nothing. */
export function parseNote(note: string): { text: string; signatures: NoteSignature[] } {
  requireNoteText(note, 'signed note');
  // The text ends at the last blank line (the text itself may contain blank lines).
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw new CheckpointFormatError('signed note has no blank line before its signatures');
  const text = note.slice(0, split + 1);
  const lines = note.slice(split + 2, -1).split('\n');
  if (lines.length > MAX_NOTE_SIGNATURES) throw new CheckpointFormatError(`signed note has more than ${MAX_NOTE_SIGNATURES} signatures`);
  const signatures = lines.map((line, i) => {
    if (!line.startsWith(EM_DASH_PREFIX)) throw new CheckpointFormatError(`signature line ${i + 1} does not start with "— "`);
    const rest = line.slice(EM_DASH_PREFIX.length);
    const space = rest.indexOf(' ');
    if (space <= 0) throw new CheckpointFormatError(`signature line ${i + 1} has no key name and signature`);
    const name = requireKeyName(rest.slice(0, space));
    const blob = base64Decode(rest.slice(space + 1), `signature ${i + 1}`);
    if (blob.length < 5) throw new CheckpointFormatError(`signature ${i + 1} is too short to hold a key ID and a signature`);
    return { name, keyId: new DataView(blob.buffer).getUint32(0), signature: blob.slice(4) };
  });
  return { text, signatures };
}

/**
 * Opens a signed note: returns its text if at least one signature from a known key verifies.
 * Per the spec, lines from unknown keys (name and key ID not both matching) are ignored, and a
 * known key's failed signature rejects the whole note. Throws NoteSignatureError.
 */
export function openNote(note: string, verifiers: readonly NoteVerifier[]): { text: string; verifiedBy: string[] } {
  const { text, signatures } = parseNote(note);
  const message = encoder.encode(text);
  const verifiedBy: string[] = [];
  for (const { name, keyId, signature } of signatures) {
    const known = verifiers.find((v) => v.name === name && v.keyId === keyId);
    if (!known) continue;
    if (!known.verify(message, signature)) throw new NoteSignatureError(`the signature of known key ${name} does not verify`);
    if (!verifiedBy.includes(name)) verifiedBy.push(name);
  }
  if (verifiedBy.length === 0) throw new NoteSignatureError('no signature from a known key');
  return { text, verifiedBy };
}

/** The C2SP verifier-key text "<name>+<hex key ID>+<base64(type ‖ public key)>", to configure verifiers. */
export function formatVerifierKey(verifier: NoteVerifier): string {
  const id = verifier.keyId.toString(16).padStart(8, '0');
  return `${verifier.name}+${id}+${base64Encode(concatBytes(NOTE_SIGNATURE_TYPES[verifier.suiteId], verifier.publicKey))}`;
}

/** Parses a verifier key; the key ID must match the one computed from the key. */
export function parseVerifierKey(text: string): NoteVerifier {
  if (typeof text !== 'string' || text.length > 64 * 1024) throw new CheckpointFormatError('verifier key text is too long');
  const first = text.indexOf('+');
  const second = text.indexOf('+', first + 1);
  if (first <= 0 || second < 0) throw new CheckpointFormatError('verifier key must be <name>+<key ID>+<key>');
  const name = requireKeyName(text.slice(0, first));
  const idText = text.slice(first + 1, second);
  if (!/^[0-9a-f]{8}$/.test(idText)) throw new CheckpointFormatError('verifier key ID must be 8 lowercase hex digits');
  const blob = base64Decode(text.slice(second + 1), 'verifier key');
  const suiteId = ([1, 2, 3] as const).find((id) => {
    const type = NOTE_SIGNATURE_TYPES[id];
    return blob.length > type.length && type.every((byte, i) => blob[i] === byte);
  });
  if (suiteId === undefined) throw new CheckpointFormatError('verifier key has an unsupported signature type');
  const verifier = noteVerifier(suiteId, name, blob.slice(NOTE_SIGNATURE_TYPES[suiteId].length));
  if (verifier.keyId !== Number.parseInt(idText, 16)) throw new CheckpointFormatError('verifier key ID does not match its key');
  return verifier;
}
