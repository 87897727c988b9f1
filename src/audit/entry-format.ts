/**
 * The stored form of one forward-secure audit entry (Schneier–Kelsey, DESIGN.md §6) and the
 * public values bound to it: its associated data, the hash chain Y_j and the genesis value Y_{-1}.
 * Keys and sealing are in key-schedule.ts and entries.ts; this file has no secrets.
 *
 * Entry encoding, version 1 (all integers big-endian) — also the Merkle leaf data of the entry:
 *
 *   0x01 ‖ index u64 ‖ time u64 ‖ mask u32 ‖ nonce[12] ‖ ctLen u32 ‖ ciphertext‖tag ‖ Y_j[32] ‖ Z_j[32]
 *
 * Version 2 is a PUBLIC entry, for events whose content is public by nature (key publications,
 * heartbeats): the same layout, a nonce of 12 zero bytes, and the event in the clear where the
 * ciphertext would be. It is chained and MACed like a sealed entry, under a chain label of its
 * own, so an entry cannot be switched between the two kinds. Anyone — a client checking a pre-key
 * bundle (key transparency) or a verifier without keys — can read it.
 *
 * The chain hash covers every public field of the entry (index, time, mask, nonce, ciphertext),
 * not only the ciphertext and mask of the textbook scheme, so a verifier without any key still
 * sees a changed bit at the index where it happened. Z_j is outside Y_j (it is a MAC of Y_j) and
 * is covered by the Merkle leaf instead.
 */
import { lengthPrefixed, label } from '../crypto/bytes.js';
import { sha256 } from '../../bindings/hash.js';
import { isCategoryMask } from './categories.js';
import { AuditFormatError } from '../errors.js';

export const ENTRY_FORMAT_VERSION = 1;
/** Format byte of a public entry (event in the clear). */
export const PUBLIC_ENTRY_FORMAT_VERSION = 2;
export const ENTRY_NONCE_BYTES = 12;
export const ENTRY_TAG_BYTES = 16;
export const CHAIN_HASH_BYTES = 32;
export const ENTRY_MAC_BYTES = 32;
/** Largest plaintext of one entry: audit events are small records, not payloads. */
export const MAX_ENTRY_PLAINTEXT_BYTES = 64 * 1024;
/** Log ids are short names (the UTF-8 checkpoint origin is the natural choice). */
export const MAX_LOG_ID_BYTES = 255;
/** Largest index or time value: exact JS integers. */
export const MAX_ENTRY_INTEGER = Number.MAX_SAFE_INTEGER;

const HEADER_BYTES = 1 + 8 + 8 + 4 + ENTRY_NONCE_BYTES + 4;
const TRAILER_BYTES = CHAIN_HASH_BYTES + ENTRY_MAC_BYTES;
const MAX_ENTRY_BYTES = HEADER_BYTES + MAX_ENTRY_PLAINTEXT_BYTES + ENTRY_TAG_BYTES + TRAILER_BYTES;

const GENESIS_LABEL = label('pqe2ee/v1/audit-genesis');
const CHAIN_LABEL = label('pqe2ee/v1/audit-chain');
const PUBLIC_CHAIN_LABEL = label('pqe2ee/v1/audit-chain-public');
const AD_LABEL = label('pqe2ee/v1/audit-ad');

/** Whether an entry's event is encrypted ('sealed', the default) or in the clear ('public'). */
export type EntryVisibility = 'sealed' | 'public';

/** One stored entry L_j. Everything here is public except what the ciphertext hides. */
export interface AuditEntry {
  /** j: position in the log, from 0, without gaps. */
  readonly index: number;
  /** Milliseconds since the Unix epoch, from the writer's clock; never decreases along the log. */
  readonly time: number;
  /** W_j: the categories of the event (categories.ts). */
  readonly categoryMask: number;
  /** AES-256-GCM nonce (synthetic: derived from the entry, see entries.ts). */
  readonly nonce: Uint8Array;
  /** AES-256-GCM ciphertext of the event, tag appended; for a public entry, the event itself. */
  readonly ciphertext: Uint8Array;
  /** 'public': the event is stored in the clear (format version 2). Absent: sealed. */
  readonly visibility?: EntryVisibility;
  /** Y_j, the hash chain value after this entry. */
  readonly chainHash: Uint8Array;
  /** Z_j = HMAC(MAC key of A_j, Y_j). */
  readonly mac: Uint8Array;
}

/** Big-endian 8-byte encoding of an integer in [0, 2^53). */
export function u64(value: number): Uint8Array {
  const out = new Uint8Array(8);
  const view = new DataView(out.buffer);
  view.setUint32(0, Math.floor(value / 2 ** 32));
  view.setUint32(4, value % 2 ** 32);
  return out;
}

/** Big-endian 4-byte encoding of an unsigned 32-bit integer. */
export function u32(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value);
  return out;
}

function readU64(view: DataView, offset: number, what: string): number {
  const high = view.getUint32(offset);
  if (high >= 2 ** 21) throw new AuditFormatError(`${what} exceeds 2^53 − 1`);
  return high * 2 ** 32 + view.getUint32(offset + 4);
}

/** Throws unless `logId` is 1..255 bytes. */
export function requireLogId(logId: unknown): Uint8Array {
  if (!(logId instanceof Uint8Array) || logId.length === 0 || logId.length > MAX_LOG_ID_BYTES) {
    throw new AuditFormatError(`log id must be 1 to ${MAX_LOG_ID_BYTES} bytes`);
  }
  return logId;
}

/** True when `value` is an integer in [0, 2^53). */
export function isEntryInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** Y_{-1}: the chain value before entry 0, bound to the log id so two logs never share a chain. */
export function genesisChainHash(logId: Uint8Array): Uint8Array {
  return sha256(lengthPrefixed(GENESIS_LABEL, requireLogId(logId)));
}

/** AD_j = (log id, j, time, W_j, Y_{j-1}), length-prefixed: what AES-GCM authenticates besides the plaintext. */
export function entryAssociatedData(logId: Uint8Array, index: number, time: number, categoryMask: number, previousChainHash: Uint8Array): Uint8Array {
  return lengthPrefixed(AD_LABEL, logId, u64(index), u64(time), u32(categoryMask), previousChainHash);
}

/** True for a public entry (event in the clear). */
export function isPublicEntry(entry: Pick<AuditEntry, 'visibility'>): boolean {
  return entry.visibility === 'public';
}

/** Y_j = H(Y_{j-1} ‖ j ‖ time ‖ W_j ‖ nonce ‖ ciphertext), length-prefixed and labelled by the entry's kind. */
export function nextChainHash(previousChainHash: Uint8Array, entry: Pick<AuditEntry, 'index' | 'time' | 'categoryMask' | 'nonce' | 'ciphertext' | 'visibility'>): Uint8Array {
  const chainLabel = isPublicEntry(entry) ? PUBLIC_CHAIN_LABEL : CHAIN_LABEL;
  return sha256(lengthPrefixed(chainLabel, previousChainHash, u64(entry.index), u64(entry.time), u32(entry.categoryMask), entry.nonce, entry.ciphertext));
}

function checkEntryFields(entry: AuditEntry): void {
  if (!isEntryInteger(entry.index)) throw new AuditFormatError('entry index must be an integer in [0, 2^53)');
  if (!isEntryInteger(entry.time)) throw new AuditFormatError('entry time must be an integer in [0, 2^53)');
  if (!isCategoryMask(entry.categoryMask)) throw new AuditFormatError('entry category mask must be a 32-bit unsigned integer');
  const sized: [string, Uint8Array, number][] = [
    ['nonce', entry.nonce, ENTRY_NONCE_BYTES],
    ['chain hash', entry.chainHash, CHAIN_HASH_BYTES],
    ['MAC', entry.mac, ENTRY_MAC_BYTES],
  ];
  for (const [what, bytes, length] of sized) {
    if (!(bytes instanceof Uint8Array) || bytes.length !== length) throw new AuditFormatError(`entry ${what} must be ${length} bytes`);
  }
  if (entry.visibility !== undefined && entry.visibility !== 'sealed' && entry.visibility !== 'public') throw new AuditFormatError('entry visibility must be sealed or public');
  const ct = entry.ciphertext;
  if (isPublicEntry(entry)) {
    if (entry.nonce.some((byte) => byte !== 0)) throw new AuditFormatError('a public entry has an all-zero nonce');
    if (!(ct instanceof Uint8Array) || ct.length > MAX_ENTRY_PLAINTEXT_BYTES) throw new AuditFormatError(`a public entry's event is at most ${MAX_ENTRY_PLAINTEXT_BYTES} bytes`);
    return;
  }
  if (!(ct instanceof Uint8Array) || ct.length < ENTRY_TAG_BYTES || ct.length > MAX_ENTRY_PLAINTEXT_BYTES + ENTRY_TAG_BYTES) {
    throw new AuditFormatError(`entry ciphertext must be ${ENTRY_TAG_BYTES} to ${MAX_ENTRY_PLAINTEXT_BYTES + ENTRY_TAG_BYTES} bytes`);
  }
}

/** The canonical bytes of an entry: what is stored, and the Merkle leaf data. */
export function encodeEntry(entry: AuditEntry): Uint8Array {
  checkEntryFields(entry);
  const out = new Uint8Array(HEADER_BYTES + entry.ciphertext.length + TRAILER_BYTES);
  const view = new DataView(out.buffer);
  out[0] = isPublicEntry(entry) ? PUBLIC_ENTRY_FORMAT_VERSION : ENTRY_FORMAT_VERSION;
  out.set(u64(entry.index), 1);
  out.set(u64(entry.time), 9);
  view.setUint32(17, entry.categoryMask);
  out.set(entry.nonce, 21);
  view.setUint32(33, entry.ciphertext.length);
  out.set(entry.ciphertext, HEADER_BYTES);
  out.set(entry.chainHash, HEADER_BYTES + entry.ciphertext.length);
  out.set(entry.mac, HEADER_BYTES + entry.ciphertext.length + CHAIN_HASH_BYTES);
  return out;
}

/** Decodes entry bytes strictly: known version, exact length, bounded ciphertext. Copies every field. */
export function decodeEntry(bytes: Uint8Array): AuditEntry {
  if (!(bytes instanceof Uint8Array)) throw new AuditFormatError('entry must be a Uint8Array');
  const version = bytes[0];
  if (version !== ENTRY_FORMAT_VERSION && version !== PUBLIC_ENTRY_FORMAT_VERSION) throw new AuditFormatError(`unknown entry format version ${version}`);
  const minimum = HEADER_BYTES + (version === ENTRY_FORMAT_VERSION ? ENTRY_TAG_BYTES : 0) + TRAILER_BYTES;
  if (bytes.length < minimum || bytes.length > MAX_ENTRY_BYTES) {
    throw new AuditFormatError(`entry of ${bytes.length} bytes is outside the valid range`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const ctLength = view.getUint32(33);
  if (HEADER_BYTES + ctLength + TRAILER_BYTES !== bytes.length) throw new AuditFormatError('entry length does not match its ciphertext length field');
  const entry: AuditEntry = {
    index: readU64(view, 1, 'entry index'),
    time: readU64(view, 9, 'entry time'),
    categoryMask: view.getUint32(17),
    nonce: bytes.slice(21, 33),
    ciphertext: bytes.slice(HEADER_BYTES, HEADER_BYTES + ctLength),
    chainHash: bytes.slice(HEADER_BYTES + ctLength, HEADER_BYTES + ctLength + CHAIN_HASH_BYTES),
    mac: bytes.slice(HEADER_BYTES + ctLength + CHAIN_HASH_BYTES),
    ...(version === PUBLIC_ENTRY_FORMAT_VERSION ? { visibility: 'public' as const } : {}),
  };
  checkEntryFields(entry);
  return entry;
}
