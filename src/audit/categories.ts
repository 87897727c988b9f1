/**
 * Event categories of the audit log: the public mask W_j of each entry (DESIGN.md §6, issue 13).
 *
 * W_j is stored in the clear so the TLM can decide, without decrypting, whether a verifier's
 * entitlement covers an entry; it is also bound into the entry key, the associated data and the
 * hash chain, so it cannot be relabelled to leak an entry to a verifier not entitled to it.
 */
import { AuditFormatError } from '../errors.js';

/** One bit per category. Bits 7–31 are reserved for later categories. */
export const AuditCategory = {
  /** The cipher suite of a session that was set up (one-to-one or group). */
  SESSION_SUITE: 1 << 0,
  /** Registration and every key publication: identity keys, signed pre-keys, OPK counts, device links. */
  KEY_PUBLICATION: 1 << 1,
  /** A pre-key bundle handed out: who asked for whose devices. */
  BUNDLE_HANDOUT: 1 << 2,
  /** Group creation, membership changes and epochs. */
  GROUP: 1 << 3,
  /** A read of user metadata: who looked up whom. */
  METADATA_READ: 1 << 4,
  /** Client side: a stored record was sealed (nothing was written in plaintext). */
  STORAGE_SEALED: 1 << 5,
  /** Written at a fixed interval, so a truncated tail shows up as a missing heartbeat. */
  HEARTBEAT: 1 << 6,
} as const;

export type AuditCategoryName = keyof typeof AuditCategory;

/** Every category this version defines. */
export const KNOWN_CATEGORIES: number = Object.values(AuditCategory).reduce((all, bit) => all | bit, 0);

/** True when `value` is an unsigned 32-bit integer (any mask, known bits or not). */
export function isCategoryMask(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0xffff_ffff;
}

/**
 * Checks a mask for a new entry: non-zero, and only categories this version knows — a writer
 * that sets an unknown bit is a bug, and would make the entry unreadable to every verifier whose
 * entitlement predates that bit.
 */
export function requireEntryMask(mask: unknown): number {
  if (!isCategoryMask(mask) || mask === 0) throw new AuditFormatError('category mask must be a non-zero 32-bit integer');
  if ((mask & ~KNOWN_CATEGORIES) >>> 0 !== 0) throw new AuditFormatError(`category mask 0x${mask.toString(16)} sets reserved bits`);
  return mask;
}

/**
 * Whether an entitlement (the categories a verifier may read) covers an entry's mask: every
 * category of the entry must be granted. An entry that is both a key publication and a metadata
 * read is released only to a verifier entitled to both.
 */
export function entitlementCovers(entitlement: number, mask: number): boolean {
  if (!isCategoryMask(entitlement) || !isCategoryMask(mask)) return false;
  return (mask & ~entitlement) >>> 0 === 0;
}

/** Names of the categories in `mask` (reserved bits as `bit<n>`), for reports. */
export function categoryNames(mask: number): string[] {
  const names: string[] = [];
  for (let bit = 0; bit < 32; bit++) {
    const value = 2 ** bit;
    if (Math.floor(mask / value) % 2 === 0) continue;
    const known = (Object.entries(AuditCategory) as [AuditCategoryName, number][]).find(([, v]) => v === value);
    names.push(known ? known[0] : `bit${bit}`);
  }
  return names;
}
