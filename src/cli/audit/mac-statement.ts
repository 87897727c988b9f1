/**
 * The TLM's "MAC-verified up to j" statement (src/audit/tlm.ts): a note signed with the log key,
 *
 *   pqe2ee-mac-verified/v1
 *   <origin>
 *   up-to <j>
 *
 * saying the TLM, which alone can derive every MAC key M_j, re-checked the hash chain and every
 * Z_j of entries 0..j. A verifier is released entry keys K_j but never MAC keys, so this is how
 * it learns the MACs hold.
 */
import { openNote, type NoteVerifier } from '../../audit/signed-note.js';
import { MAC_STATEMENT_HEADER } from '../../audit/tlm.js';
import { AuditFormatError } from '../../errors.js';

/** Opens a MAC statement of log `origin` signed by `key`; returns j. Throws on any mismatch. */
export function openMacStatement(note: string, key: NoteVerifier, origin: string): number {
  const { text } = openNote(note, [key]);
  const lines = text.split('\n');
  if (lines.length !== 4 || lines[0] !== MAC_STATEMENT_HEADER || lines[3] !== '') throw new AuditFormatError(`the MAC statement is not three lines of ${MAC_STATEMENT_HEADER}`);
  if (lines[1] !== origin) throw new AuditFormatError('the MAC statement is about another log');
  const match = /^up-to (0|[1-9][0-9]{0,15})$/.exec(lines[2] as string);
  const upTo = match ? Number(match[1]) : Number.NaN;
  if (!Number.isSafeInteger(upTo)) throw new AuditFormatError('the MAC statement has no "up-to <index>" line');
  return upTo;
}
