/**
 * The `--entitlement` argument: which event categories (docs/audit.md, "Event categories") a
 * verifier may read, as a comma list of names ("BUNDLE_HANDOUT,METADATA_READ", case-insensitive)
 * or as the mask itself ("20", "0x14").
 */
import { AuditCategory, type AuditCategoryName, KNOWN_CATEGORIES } from '../../audit/categories.js';
import { InvalidClientInputError } from '../../errors.js';

/** Parses CATS into a non-empty mask of known categories; throws InvalidClientInputError. */
export function parseEntitlement(text: string): number {
  const trimmed = text.trim();
  let mask: number;
  if (/^(0x[0-9a-f]{1,8}|[0-9]{1,10})$/i.test(trimmed)) {
    mask = Number(trimmed);
  } else {
    mask = 0;
    for (const part of trimmed.split(',')) {
      const name = part.trim().toUpperCase().replace(/-/g, '_');
      if (!Object.hasOwn(AuditCategory, name)) {
        throw new InvalidClientInputError(`unknown category '${part.trim().slice(0, 40)}' (known: ${Object.keys(AuditCategory).join(', ')})`);
      }
      mask |= AuditCategory[name as AuditCategoryName];
    }
  }
  // A reserved bit would grant nothing today and silently grant a future category; refuse it.
  if (!Number.isInteger(mask) || mask <= 0 || mask > 0xffff_ffff || (mask & ~KNOWN_CATEGORIES) >>> 0 !== 0) {
    throw new InvalidClientInputError(`an entitlement is a non-empty mask of known categories (at most 0x${KNOWN_CATEGORIES.toString(16)})`);
  }
  return mask >>> 0;
}
