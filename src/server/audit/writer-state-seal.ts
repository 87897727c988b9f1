/**
 * The SAM's writer state at rest (docs/audit.md, "The TLM's state"): it holds the current
 * evolving key A_j, from which every later entry key follows, so the database keeps it sealed
 * (AES-256-GCM) under a key from the TLM key file. A copy of the database alone — a backup, a
 * stolen file — then reads nothing sealed that is written after it.
 */
import { randomBytes } from 'node:crypto';
import { auditPrimitives } from '../../audit/key-schedule.js';
import { AuditStateError } from '../../errors.js';

/** First byte of a sealed state; a bare state starts with its format version (1). */
const SEALED_STATE_MARKER = 0xa5;
const NONCE_BYTES = 12;
const ASSOCIATED_DATA = new TextEncoder().encode('pqe2ee/v1/audit-writer-state');

/** Seals and opens writer states with one key. */
export interface WriterStateCipher {
  seal(state: Uint8Array): Uint8Array;
  open(stored: Uint8Array): Uint8Array;
}

export function writerStateCipher(key: Uint8Array): WriterStateCipher {
  const held = key.slice();
  return {
    seal(state) {
      const nonce = new Uint8Array(randomBytes(NONCE_BYTES));
      const sealed = auditPrimitives.aead.encrypt(held, nonce, state, ASSOCIATED_DATA);
      const out = new Uint8Array(1 + NONCE_BYTES + sealed.length);
      out[0] = SEALED_STATE_MARKER;
      out.set(nonce, 1);
      out.set(sealed, 1 + NONCE_BYTES);
      return out;
    },
    open(stored) {
      // A state written before states were sealed: read as it is (the next batch seals it).
      if (stored[0] !== SEALED_STATE_MARKER) return stored.slice();
      try {
        return auditPrimitives.aead.decrypt(held, stored.subarray(1, 1 + NONCE_BYTES), stored.subarray(1 + NONCE_BYTES), ASSOCIATED_DATA);
      } catch {
        throw new AuditStateError('the stored audit writer state does not open with the TLM key file: another key file, or a damaged database');
      }
    },
  };
}
