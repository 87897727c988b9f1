// What an auditor does with the keys the TLM released: unwrap them with its KEM secret key and
// verify (and decrypt) the entries it read. Shared by the server and client audit tests.
import type { AuditEntry } from '../../src/audit/entry-format.js';
import { type VerifyEntriesReport, verifyEntries } from '../../src/audit/entry-verifier.js';
import { unwrapEntryKey } from '../../src/audit/key-release.js';
import type { WrappedEntryKey } from '../../src/proto/gen/audit_pb.js';

/** Verifies `entries` (from index 0) of log `origin`, decrypting those whose key was released. */
export function openReleasedEntries(kemSecretKey: Uint8Array, origin: string, entries: readonly AuditEntry[], released: readonly WrappedEntryKey[]): VerifyEntriesReport {
  const logId = new TextEncoder().encode(origin);
  const keys = new Map(released.map((k) => [Number(k.index), unwrapEntryKey(kemSecretKey, logId, Number(k.index), k.categoryMask, { ...k, index: Number(k.index) })]));
  return verifyEntries({
    logId,
    entries,
    keys: (index) => {
      const entryKey = keys.get(index);
      return entryKey ? { entryKey } : undefined;
    },
  });
}
