/**
 * The `--state` file of `pqe2ee audit verify`: the newest checkpoint note this verifier has
 * accepted, so the next run can demand that the log it is shown extends it (a consistency proof)
 * — which is what exposes a server that later truncates, rewrites or forks its log.
 *
 * The note is public (it is what the TLM publishes), but losing or tearing it would silently
 * reset the verifier to trusting whatever it sees next, so it is replaced atomically: written to
 * a temporary file in the same directory, flushed, then renamed over the old one.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { MAX_NOTE_BYTES } from '../../audit/signed-note.js';
import { InvalidClientInputError } from '../../errors.js';

/** The stored checkpoint note, or undefined when the file does not exist yet (a first run). */
export function readStateFile(path: string): string | undefined {
  if (!existsSync(path)) return undefined;
  if (statSync(path).size > MAX_NOTE_BYTES) throw new InvalidClientInputError(`${path.slice(0, 200)} is larger than a checkpoint note can be`);
  return readFileSync(path, 'utf8');
}

/** Replaces the state file with `note`, atomically (temporary file, fsync, rename, fsync of the directory). */
export function writeStateFile(path: string, note: string): void {
  const directory = dirname(path);
  const temporary = join(directory, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(temporary, 'wx', 0o644);
  try {
    writeSync(fd, note);
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    rmSync(temporary, { force: true });
    throw error;
  }
  closeSync(fd);
  try {
    renameSync(temporary, path);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
  // The rename itself is durable only once the directory entry is flushed.
  try {
    const dirFd = openSync(directory, 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  } catch {
    // Some platforms cannot fsync a directory; the rename is still atomic.
  }
}
