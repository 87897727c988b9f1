/**
 * `pqe2ee audit inspect`, as a library function: prints a log's latest checkpoint (verified when
 * the log key is given, and marked NOT verified otherwise) and one line per entry — index, time,
 * categories, public or sealed, and a public entry's event. A look at the log, not an audit: it
 * checks nothing beyond the checkpoint's signature (use verify for that).
 */
import { type Checkpoint, openCheckpoint, parseCheckpoint } from '../../audit/checkpoint.js';
import { base64Encode } from '../../audit/base64.js';
import { categoryNames } from '../../audit/categories.js';
import { decodeEntry, isPublicEntry } from '../../audit/entry-format.js';
import { MAX_NOTE_BYTES, type NoteVerifier, parseNote } from '../../audit/signed-note.js';
import { AuditFormatError } from '../../errors.js';
import { type AuditServiceClient, callAudit, MAX_AUDIT_PAGE } from './audit-client.js';
import { errorText, printable } from './printable.js';

/** Entries listed by default, and at most. */
export const DEFAULT_INSPECT_COUNT = 100;
export const MAX_INSPECT_COUNT = 100_000;
/** A public event is shown up to this many characters. */
const MAX_EVENT_CHARS = 400;

/** Options of {@link inspectAuditLog}. */
export interface InspectAuditLogOptions {
  readonly client: AuditServiceClient;
  /** The log key; without it the checkpoint is shown but not verified. */
  readonly logKey?: NoteVerifier;
  readonly from?: number;
  readonly count?: number;
  /** Receives each output line (without its newline). */
  readonly write: (line: string) => void;
}

/** Prints the checkpoint and the entries [from, from + count) it covers; returns whether the checkpoint verified (true without a key). */
export async function inspectAuditLog(options: InspectAuditLogOptions): Promise<boolean> {
  const { client, write } = options;
  const response = await callAudit('GetCheckpoint', () => client.getCheckpoint({}));
  const note = response.checkpoint;
  if (note.length > MAX_NOTE_BYTES) throw new AuditFormatError(`the checkpoint note is larger than ${MAX_NOTE_BYTES} bytes`);
  let checkpoint: Checkpoint;
  let verified = true;
  if (options.logKey) {
    try {
      checkpoint = openCheckpoint(note, [options.logKey], options.logKey.name).checkpoint;
      write(`checkpoint (verified with ${printable(options.logKey.name, 100)}):`);
    } catch (error) {
      verified = false;
      write(`checkpoint does NOT verify with the given log key: ${errorText(error)}`);
      checkpoint = parseCheckpoint(parseNote(note).text);
    }
  } else {
    checkpoint = parseCheckpoint(parseNote(note).text);
    write('checkpoint (NOT verified: no --log-key given):');
  }
  write(`  origin ${printable(checkpoint.origin, 200)}`);
  write(`  size   ${checkpoint.size}`);
  write(`  root   ${base64Encode(checkpoint.rootHash)}`);

  const from = options.from ?? 0;
  const end = Math.min(checkpoint.size, from + Math.min(options.count ?? DEFAULT_INSPECT_COUNT, MAX_INSPECT_COUNT));
  for (let start = from; start < end; start += MAX_AUDIT_PAGE) {
    const count = Math.min(MAX_AUDIT_PAGE, end - start);
    const entries = (await callAudit('GetEntries', () => client.getEntries({ start: BigInt(start), count }))).entries.slice(0, count);
    entries.forEach((bytes, offset) => {
      write(entryLine(start + offset, bytes));
    });
    if (entries.length < count) {
      write(`(the server returned ${entries.length} of the ${count} entries from ${start})`);
      break;
    }
  }
  return verified;
}

/** One entry as a line: index, ISO time, categories, public/sealed, and a public entry's event. */
export function entryLine(position: number, bytes: Uint8Array): string {
  let entry: ReturnType<typeof decodeEntry>;
  try {
    entry = decodeEntry(bytes);
  } catch (error) {
    return `${position}  <does not decode: ${errorText(error, 100)}>`;
  }
  const index = entry.index === position ? String(entry.index) : `${position} (stored index ${entry.index})`;
  const time = entry.time <= 8.64e15 ? new Date(entry.time).toISOString() : `t=${entry.time}`;
  const categories = categoryNames(entry.categoryMask).join('|');
  if (!isPublicEntry(entry)) return `${index}  ${time}  ${categories}  sealed (${entry.ciphertext.length} bytes)`;
  const event = new TextDecoder('utf-8', { fatal: false }).decode(entry.ciphertext);
  return `${index}  ${time}  ${categories}  public  ${printable(event, MAX_EVENT_CHARS)}`;
}
