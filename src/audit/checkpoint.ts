/**
 * Checkpoints (c2sp.org/tlog-checkpoint): the signed tree head of the audit log, as note text
 *
 *   <origin>\n<tree size in decimal>\n<base64 root hash>\n[<extension line>\n ...]
 *
 * signed as a C2SP signed note (signed-note.ts) by the TLM's key. CheckpointSigner enforces the
 * one rule a log must never break: it signs no checkpoint inconsistent with one it signed before.
 */
import { base64Decode, base64Encode } from './base64.js';
import { CheckpointFormatError, InconsistentCheckpointError, MerkleProofError } from '../errors.js';
import { emptyRoot, hashesEqual, isTreeSize, MERKLE_HASH_BYTES, verifyConsistency } from './merkle.js';
import { type NoteSigner, type NoteVerifier, openNote, requireNoteText, signNote } from './signed-note.js';

/** Longest origin line, in UTF-16 code units (it is a short name such as "example.com/log"). */
export const MAX_ORIGIN_LENGTH = 512;
/** Most extension lines, and the longest one. Extensions are opaque and NOT RECOMMENDED by the spec. */
export const MAX_EXTENSION_LINES = 16;
export const MAX_EXTENSION_LENGTH = 1024;

/** A tree head of the log. */
export interface Checkpoint {
  readonly origin: string;
  readonly size: number;
  readonly rootHash: Uint8Array;
  readonly extensions: readonly string[];
}

function requireLine(line: unknown, what: string, maxLength: number): string {
  if (typeof line !== 'string' || line.length === 0 || line.length > maxLength) throw new CheckpointFormatError(`${what} must be 1 to ${maxLength} characters`);
  if (line.includes('\n')) throw new CheckpointFormatError(`${what} must be a single line`);
  return line;
}

function checkCheckpoint(checkpoint: Checkpoint): void {
  requireLine(checkpoint.origin, 'origin', MAX_ORIGIN_LENGTH);
  if (!isTreeSize(checkpoint.size)) throw new CheckpointFormatError('tree size must be an integer in [0, 2^53)');
  if (!(checkpoint.rootHash instanceof Uint8Array) || checkpoint.rootHash.length !== MERKLE_HASH_BYTES) {
    throw new CheckpointFormatError(`root hash must be ${MERKLE_HASH_BYTES} bytes`);
  }
  if (!Array.isArray(checkpoint.extensions) || checkpoint.extensions.length > MAX_EXTENSION_LINES) {
    throw new CheckpointFormatError(`at most ${MAX_EXTENSION_LINES} extension lines`);
  }
  checkpoint.extensions.forEach((line, i) => {
    requireLine(line, `extension line ${i + 1}`, MAX_EXTENSION_LENGTH);
  });
}

/** The checkpoint's note text (what gets signed). */
export function formatCheckpoint(checkpoint: Checkpoint): string {
  checkCheckpoint(checkpoint);
  const lines = [checkpoint.origin, String(checkpoint.size), base64Encode(checkpoint.rootHash), ...checkpoint.extensions];
  return requireNoteText(`${lines.join('\n')}\n`, 'checkpoint');
}

/**
 * Parses checkpoint note text strictly: at least three non-empty lines, a decimal size without
 * leading zeros that fits 2^53 − 1, a canonical base64 root of exactly 32 bytes, bounded lengths.
 */
export function parseCheckpoint(text: string): Checkpoint {
  requireNoteText(text, 'checkpoint');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3) throw new CheckpointFormatError('a checkpoint has at least three lines: origin, size, root hash');
  if (lines.length > 3 + MAX_EXTENSION_LINES) throw new CheckpointFormatError(`at most ${MAX_EXTENSION_LINES} extension lines`);
  const [origin, sizeText, rootText, ...extensions] = lines as [string, string, string, ...string[]];
  if (!/^(0|[1-9][0-9]{0,15})$/.test(sizeText)) throw new CheckpointFormatError('tree size must be decimal without leading zeros');
  const size = Number(sizeText);
  if (!isTreeSize(size)) throw new CheckpointFormatError('tree size exceeds 2^53 − 1');
  const rootHash = base64Decode(rootText, 'root hash');
  const checkpoint: Checkpoint = { origin, size, rootHash, extensions };
  checkCheckpoint(checkpoint);
  return checkpoint;
}

/**
 * Opens a signed checkpoint: the note must verify under one of `verifiers`, and its origin must
 * be `origin` (a checkpoint of another log signed by the same key proves nothing about this one).
 */
export function openCheckpoint(note: string, verifiers: readonly NoteVerifier[], origin: string): { checkpoint: Checkpoint; verifiedBy: string[] } {
  const { text, verifiedBy } = openNote(note, verifiers);
  const checkpoint = parseCheckpoint(text);
  if (checkpoint.origin !== origin) throw new CheckpointFormatError(`checkpoint is for log "${checkpoint.origin.slice(0, 64)}", not "${origin.slice(0, 64)}"`);
  return { checkpoint, verifiedBy };
}

/** Something that can prove consistency between two of its sizes (MerkleTree does). */
export interface ConsistencyProver {
  consistencyProof(size1: number, size2: number): Uint8Array[];
}

/** How the signer learns that a new checkpoint extends the last one. */
export type ConsistencyEvidence = { readonly proof: readonly Uint8Array[] } | { readonly tree: ConsistencyProver };

/**
 * Checks that `next` extends `previous`: never a smaller size; at the same size the same root; a
 * larger size needs a consistency proof that verifies. Throws InconsistentCheckpointError.
 */
export function requireConsistent(previous: Checkpoint, next: Checkpoint, evidence?: ConsistencyEvidence): void {
  if (next.origin !== previous.origin) throw new InconsistentCheckpointError('checkpoints of different logs');
  if (next.size < previous.size) throw new InconsistentCheckpointError(`tree size ${next.size} is below the ${previous.size} already signed`);
  if (next.size === previous.size) {
    if (!hashesEqual(next.rootHash, previous.rootHash)) throw new InconsistentCheckpointError(`a different root for tree size ${next.size}: a fork`);
    return;
  }
  // Every tree extends the empty one; there is no proof to check.
  if (previous.size === 0) return;
  if (!evidence) throw new InconsistentCheckpointError(`a consistency proof from size ${previous.size} to ${next.size} is needed`);
  // The signer checks the proof itself even when handed a tree, so a faulty store cannot slip a fork past it.
  const proof = 'proof' in evidence ? evidence.proof : evidence.tree.consistencyProof(previous.size, next.size);
  try {
    verifyConsistency(previous.size, next.size, proof, previous.rootHash, next.rootHash);
  } catch (error) {
    if (error instanceof MerkleProofError) throw new InconsistentCheckpointError(`size ${next.size} does not extend size ${previous.size}: ${error.message}`);
    throw error;
  }
}

/** Options of {@link CheckpointSigner}. */
export interface CheckpointSignerOptions {
  /** The TLM's note key; its name should be the log's origin. */
  readonly signer: NoteSigner;
  readonly origin: string;
  /** The last checkpoint this key signed (persisted by the TLM), if any. */
  readonly lastSigned?: Checkpoint;
}

/**
 * The TLM's checkpoint signer. It remembers the last checkpoint it signed and refuses any that
 * does not extend it, so two clients can never be shown two signed, diverging logs.
 *
 * Persistence is the caller's: store `lastSigned` (e.g. the signed note) durably before handing
 * the signed note to anyone, and pass it back in after a restart; a signer restarted without it
 * could be made to sign a fork.
 */
export class CheckpointSigner {
  private readonly signer: NoteSigner;
  private readonly origin: string;
  private last: Checkpoint | undefined;

  constructor(options: CheckpointSignerOptions) {
    this.signer = options.signer;
    this.origin = requireLine(options.origin, 'origin', MAX_ORIGIN_LENGTH);
    if (options.lastSigned) {
      checkCheckpoint(options.lastSigned);
      if (options.lastSigned.origin !== this.origin) throw new CheckpointFormatError('the last signed checkpoint is of another log');
      this.last = copyCheckpoint(options.lastSigned);
    }
  }

  /** The last checkpoint signed (a copy), or undefined before the first. */
  get lastSigned(): Checkpoint | undefined {
    return this.last ? copyCheckpoint(this.last) : undefined;
  }

  /**
   * Signs `checkpoint` if it is consistent with the last one signed; returns the signed note.
   * `evidence` is needed whenever the tree grew: a consistency proof, or the tree to get one from.
   */
  sign(checkpoint: Checkpoint, evidence?: ConsistencyEvidence): string {
    checkCheckpoint(checkpoint);
    if (checkpoint.origin !== this.origin) throw new InconsistentCheckpointError(`this signer signs only checkpoints of "${this.origin.slice(0, 64)}"`);
    if (checkpoint.size === 0 && !hashesEqual(checkpoint.rootHash, emptyRoot())) {
      throw new InconsistentCheckpointError('the empty tree has the root SHA-256("")');
    }
    if (this.last) requireConsistent(this.last, checkpoint, evidence);
    const note = signNote(formatCheckpoint(checkpoint), [this.signer]);
    this.last = copyCheckpoint(checkpoint);
    return note;
  }
}

function copyCheckpoint(checkpoint: Checkpoint): Checkpoint {
  return { origin: checkpoint.origin, size: checkpoint.size, rootHash: checkpoint.rootHash.slice(), extensions: [...checkpoint.extensions] };
}
