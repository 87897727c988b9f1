/**
 * Text that came from the server (reasons, event JSON, origins inside error messages) is printed to
 * an operator's terminal. A control character there could move the cursor, rewrite earlier lines
 * of the report ("all checks passed") or set the window title, so every such string goes through
 * {@link printable} first.
 */

/** C0 and C1 controls, DEL, and the Unicode bidi overrides that can reorder what a terminal shows. */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu;

/** Longest server-controlled string put into one report line, by default. */
export const DEFAULT_PRINTABLE_LENGTH = 300;

/**
 * `text` without control characters (each replaced by U+FFFD, so a removal stays visible) and cut
 * to `maxLength` code points, with an ellipsis when it was longer.
 */
export function printable(text: string, maxLength: number = DEFAULT_PRINTABLE_LENGTH): string {
  const cleaned = String(text).replace(UNPRINTABLE, '\ufffd');
  const codePoints = Array.from(cleaned);
  return codePoints.length > maxLength ? `${codePoints.slice(0, maxLength).join('')}…` : cleaned;
}

/** The message of a thrown value, made printable. */
export function errorText(error: unknown, maxLength: number = DEFAULT_PRINTABLE_LENGTH): string {
  return printable(error instanceof Error ? error.message : String(error), maxLength);
}
