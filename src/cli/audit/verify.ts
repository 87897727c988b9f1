/**
 * `pqe2ee audit verify`, as a library function: checks a log through its AuditService without
 * trusting the server, holding only the log's note key (from the operator) and, optionally, the
 * newest checkpoint it accepted before (docs/audit.md, "What this proves"). In order:
 *
 *  1. attestation — the TLM answers a fresh 32-byte nonce with a statement signed by the log key
 *     (optionally naming the expected code digest); a replayed answer names another nonce;
 *  2. checkpoint — the latest checkpoint is signed by the log key, for this log's origin;
 *  3. consistency — it extends the checkpoint the attestation names;
 *  4. state — it extends the checkpoint from the previous run (no truncation, rollback or fork);
 *  5. entries — every entry [0, size): format, order, hash chain, and the Merkle root rebuilt from
 *     all of them equals the checkpoint's (inclusion of every entry at its index); sealed entries
 *     whose keys the TLM releases are decrypted. Bounded: at most maxEntries, until the deadline,
 *     and at most MAX_FAILED_PAGES bad pages (entry-scan.ts);
 *  6. heartbeat — the newest HEARTBEAT entry is at most maxHeartbeatAgeMs old (else the tail may
 *     have been cut off, or the SAM stopped);
 *  7. MAC statement — the TLM's signed "MAC-verified up to j" (verifiers never get MAC keys),
 *     which must cover at least the checkpoint of the previous run (see requireMacFreshness).
 *
 * Every failure is collected with the entry index where it shows; nothing stops at the first one
 * except a checkpoint that does not verify, which leaves nothing to check entries against.
 */
import { randomBytes } from 'node:crypto';
import { verifyAttestation } from '../../audit/attestation.js';
import { base64Encode } from '../../audit/base64.js';
import { type Checkpoint, openCheckpoint } from '../../audit/checkpoint.js';
import { MAX_NOTE_BYTES } from '../../audit/signed-note.js';
import { AuditFormatError } from '../../errors.js';
import { type AuditServiceClient, callAudit, MAX_AUDIT_PAGE } from './audit-client.js';
import { requireExtends } from './consistency.js';
import { type EntryScanResult, scanEntries } from './entry-scan.js';
import type { VerifierKey } from './key-file.js';
import { openMacStatement } from './mac-statement.js';
import { errorText, printable } from './printable.js';
import type { AuditCheckName, AuditCheckResult, AuditFailure, AuditReport } from './report.js';

/** Default bound on the newest heartbeat's age: 5 minutes. */
export const DEFAULT_MAX_HEARTBEAT_AGE_MS = 300_000;
/** Largest checkpoint read by default: 10 million entries (the tree kept in memory grows with the entries read). */
export const DEFAULT_MAX_ENTRIES = 10_000_000;
/** Default time for a whole run, after which the entry scan stops with a failure: one hour. */
export const DEFAULT_DEADLINE_MS = 3_600_000;
/** Failures listed in a report at most (all are counted). */
export const MAX_REPORTED_FAILURES = 1000;
const NONCE_BYTES = 32;

/** Options of {@link verifyAuditLog}. */
export interface VerifyAuditLogOptions {
  readonly client: AuditServiceClient;
  /** The verifier's key (key file): its log key is the only key trusted. */
  readonly key: VerifierKey;
  /** The checkpoint note accepted on the previous run (--state), if any. */
  readonly previousCheckpointNote?: string;
  /** SHA-256 (64 lowercase hex) of the code the TLM must say it runs. */
  readonly expectedCodeDigest?: string;
  /** Newest heartbeat at most this old (ms); default 5 minutes. */
  readonly maxHeartbeatAgeMs?: number;
  /** Clock, ms since the epoch (default Date.now). */
  readonly now?: () => number;
  /** Entries per GetEntries call (default and at most 1000). */
  readonly pageSize?: number;
  /** A checkpoint of more entries is refused unread (default DEFAULT_MAX_ENTRIES). */
  readonly maxEntries?: number;
  /** Time for the run, from its start (ms of `now`; default DEFAULT_DEADLINE_MS). */
  readonly deadlineMs?: number;
}

/** Runs every check; never throws for what the server does (that is a failure in the report). */
export async function verifyAuditLog(options: VerifyAuditLogOptions): Promise<AuditReport> {
  const { client, key } = options;
  const logKey = key.logKey;
  const origin = logKey.name;
  const logId = new TextEncoder().encode(origin);
  const now = options.now ?? Date.now;
  const deadlineAt = now() + (options.deadlineMs ?? DEFAULT_DEADLINE_MS);
  const checks: AuditCheckResult[] = [];
  const failures: AuditFailure[] = [];
  let failureCount = 0;
  const failuresOf = new Map<AuditCheckName, number>();
  const fail = (failure: AuditFailure): void => {
    failureCount++;
    failuresOf.set(failure.check, (failuresOf.get(failure.check) ?? 0) + 1);
    if (failures.length < MAX_REPORTED_FAILURES) failures.push({ ...failure, message: printable(failure.message) });
  };
  /** Runs one check: its failures are the ones `fail` receives while it runs. */
  const check = async <T>(name: AuditCheckName, run: () => Promise<{ value: T; detail: string }>): Promise<T | undefined> => {
    const before = failureCount;
    try {
      const { value, detail } = await run();
      checks.push({ name, status: failureCount === before ? 'ok' : 'failed', detail });
      return value;
    } catch (error) {
      fail({ check: name, reason: 'failed', message: errorText(error) });
      checks.push({ name, status: 'failed', detail: errorText(error, 120) });
      return undefined;
    }
  };
  const skip = (name: AuditCheckName, detail: string): void => {
    checks.push({ name, status: 'skipped', detail });
  };

  // 1. Attestation, first: its nonce makes it fresh, and it names a checkpoint the latest must extend.
  const attested = await check('attestation', async () => {
    const nonce = new Uint8Array(randomBytes(NONCE_BYTES));
    const response = await callAudit('GetAttestation', () => client.getAttestation({ nonce }));
    requireNoteSize(response.attestation, 'attestation');
    const statement = verifyAttestation(response.attestation, {
      key: logKey,
      nonce,
      ...(options.expectedCodeDigest !== undefined ? { expectedCodeDigest: options.expectedCodeDigest } : {}),
    });
    const codeNote = options.expectedCodeDigest === undefined ? ' (not compared: no --code-digest)' : ' (as expected)';
    return { value: statement, detail: `fresh answer, code ${statement.codeDigest}${codeNote}, checkpoint size ${statement.checkpoint.size}` };
  });

  // 2. The latest checkpoint.
  const latest = await check('checkpoint', async () => {
    const response = await callAudit('GetCheckpoint', () => client.getCheckpoint({}));
    requireNoteSize(response.checkpoint, 'checkpoint');
    const { checkpoint } = openCheckpoint(response.checkpoint, [logKey], origin);
    return {
      value: { checkpoint, note: response.checkpoint },
      detail: `size ${checkpoint.size}, root ${base64Encode(checkpoint.rootHash)}, signed by ${printable(logKey.name, 100)}`,
    };
  });

  const base = { origin: printable(origin, 200), attestation: attested ? { codeDigest: attested.codeDigest, checkpointSize: attested.checkpoint.size } : undefined };
  if (!latest) {
    for (const name of ['consistency', 'state', 'entries', 'keys', 'heartbeat', 'mac-statement'] as const) skip(name, 'no verified checkpoint');
    return finish({ ...base, checks, failures, failureCount, entries: emptyEntries() });
  }
  const checkpoint: Checkpoint = latest.checkpoint;

  // 3. The attested checkpoint is a prefix of (or equal to) the latest.
  let checkpointsAgree = true;
  if (attested) {
    const before = failureCount;
    await check('consistency', async () => {
      await requireExtends(client, attested.checkpoint, checkpoint, 'the attested checkpoint');
      return { value: undefined, detail: `the latest checkpoint (size ${checkpoint.size}) extends the attested one (size ${attested.checkpoint.size})` };
    });
    checkpointsAgree = failureCount === before;
  } else skip('consistency', 'no verified attestation');

  // 4. The latest checkpoint extends the one accepted last time; an older or equal one never replaces it.
  let previous: Checkpoint | undefined;
  let stateAdvances = checkpointsAgree;
  if (options.previousCheckpointNote !== undefined) {
    const note = options.previousCheckpointNote;
    const before = failureCount;
    await check('state', async () => {
      previous = openCheckpoint(note, [logKey], origin).checkpoint;
      const older: Checkpoint = previous;
      await requireExtends(client, older, checkpoint, 'the checkpoint in the state file');
      return { value: undefined, detail: `extends the stored checkpoint (size ${older.size} → ${checkpoint.size})` };
    });
    if (failureCount !== before || (previous && previous.size >= checkpoint.size)) stateAdvances = false;
  } else skip('state', 'no state file given (first run): nothing earlier to compare with');

  // 5. Every entry, with the keys the TLM releases to us.
  const scan = await scanEntries({
    client,
    logId,
    checkpoint,
    verifierId: key.verifierId,
    kemSecretKey: key.kemSecretKey,
    accessToken: key.accessToken,
    pageSize: options.pageSize ?? MAX_AUDIT_PAGE,
    maxEntries: options.maxEntries ?? DEFAULT_MAX_ENTRIES,
    deadlineAt,
    now,
    fail,
  });
  checks.push({ name: 'entries', status: failuresOf.has('entries') ? 'failed' : 'ok', detail: entriesDetail(scan, checkpoint.size) });
  checks.push({
    name: 'keys',
    status: failuresOf.has('keys') ? 'failed' : 'ok',
    detail: `${scan.decrypted} of ${scan.sealedCount} sealed entries decrypted, ${scan.denied} denied (not entitled)`,
  });

  // 6. Heartbeat.
  const nowMs = now();
  const maxAge = options.maxHeartbeatAgeMs ?? DEFAULT_MAX_HEARTBEAT_AGE_MS;
  const beat = scan.newestHeartbeat;
  const newestHeartbeat = beat ? { ...beat, ageMs: nowMs - beat.time } : undefined;
  if (scan.stopped) {
    // The newest heartbeat may be in what was not read: no verdict either way (entries failed).
    checks.push({ name: 'heartbeat', status: 'skipped', detail: `the entries were not all read (${scan.stopped})` });
  } else if (!newestHeartbeat) {
    fail({ check: 'heartbeat', index: checkpoint.size, reason: 'missing', message: 'no heartbeat entry in the log: it may be truncated or the SAM stopped' });
    checks.push({ name: 'heartbeat', status: 'failed', detail: 'no heartbeat entry' });
  } else if (newestHeartbeat.ageMs < -maxAge) {
    // Dated ahead of our clock by more than the bound itself: not clock skew, but a heartbeat
    // written to look fresh for a long time (which would hide a later truncation).
    fail({
      check: 'heartbeat',
      index: newestHeartbeat.index,
      reason: 'future',
      message: `the newest heartbeat (entry ${newestHeartbeat.index}) is dated ${Math.round(-newestHeartbeat.ageMs / 1000)} s in the future`,
    });
    checks.push({ name: 'heartbeat', status: 'failed', detail: 'newest heartbeat dated in the future' });
  } else if (newestHeartbeat.ageMs > maxAge) {
    fail({
      check: 'heartbeat',
      index: newestHeartbeat.index,
      reason: 'stale',
      message: `the newest heartbeat (entry ${newestHeartbeat.index}) is ${Math.round(newestHeartbeat.ageMs / 1000)} s old, more than ${Math.round(maxAge / 1000)} s: the log may be truncated or the SAM stopped`,
    });
    checks.push({ name: 'heartbeat', status: 'failed', detail: `newest heartbeat ${Math.round(newestHeartbeat.ageMs / 1000)} s old` });
  } else {
    checks.push({
      name: 'heartbeat',
      status: 'ok',
      detail: `newest heartbeat (entry ${newestHeartbeat.index}) ${Math.round(newestHeartbeat.ageMs / 1000)} s old (at most ${Math.round(maxAge / 1000)} s)`,
    });
  }

  // 7. The TLM's MAC statement.
  const macVerifiedUpTo = await check('mac-statement', async () => {
    const response = await callAudit('GetMacStatement', () => client.getMacStatement({}));
    requireNoteSize(response.statement, 'MAC statement');
    const upTo = openMacStatement(response.statement, logKey, origin);
    return { value: upTo, detail: requireMacFreshness(upTo, checkpoint.size, previous?.size, fail) };
  });

  return finish({
    ...base,
    checks,
    failures,
    failureCount,
    checkpoint: { size: checkpoint.size, rootHash: base64Encode(checkpoint.rootHash) },
    ...(previous ? { previousSize: previous.size } : {}),
    entries: { read: scan.read, public: scan.publicCount, sealed: scan.sealedCount, decrypted: scan.decrypted, denied: scan.denied },
    categories: scan.categories,
    ...(newestHeartbeat ? { newestHeartbeat } : {}),
    ...(macVerifiedUpTo !== undefined ? { macVerifiedUpTo } : {}),
    ...(stateAdvances ? { newStateNote: latest.note } : {}),
  });
}

/** The entries check's line: how much was read, and whether it is the checkpoint's tree. */
function entriesDetail(scan: EntryScanResult, size: number): string {
  if (scan.stopped) return `${scan.read} of ${size} entries read; stopped (${scan.stopped})`;
  return scan.rootMatches ? `${scan.read} entries read; chain intact; tree root equals the checkpoint's` : `${scan.read} entries read; they are not the checkpoint's tree`;
}

/**
 * The MAC statement must be fresh: "up to j" has to reach at least the checkpoint of the previous
 * run (--state), i.e. every MAC this verifier saw last time has been re-checked since. Not the
 * latest checkpoint: another server implementation may re-check less often than the reference
 * server (which covers its last checkpoint at every call). Without --state nothing is required. Returns the check's detail; a statement
 * too old goes to `fail`.
 */
function requireMacFreshness(upTo: number, checkpointSize: number, previousSize: number | undefined, fail: (failure: AuditFailure) => void): string {
  const covered = upTo + 1;
  const detail = `the TLM re-checked every MAC of entries 0..${upTo}: covers ${Math.min(covered, checkpointSize)} of ${checkpointSize} entries`;
  if (previousSize === undefined) return `${detail} (no --state: no earlier size to require)`;
  if (covered < previousSize) {
    fail({
      check: 'mac-statement',
      index: covered,
      reason: 'stale',
      message: `the MAC statement covers entries 0..${upTo}, fewer than the ${previousSize} of the checkpoint in the state file: MACs seen on the previous run were never re-checked`,
    });
    return `${detail}, fewer than the ${previousSize} of the state file`;
  }
  return `${detail} (at least the ${previousSize} of the state file)`;
}

type ReportFields = Omit<AuditReport, 'ok' | 'categories' | 'attestation'> & { categories?: Record<string, number>; attestation: AuditReport['attestation'] | undefined };

function finish(fields: ReportFields): AuditReport {
  const { attestation, categories, ...rest } = fields;
  return { ok: fields.failureCount === 0, ...rest, categories: categories ?? {}, ...(attestation ? { attestation } : {}) };
}

function emptyEntries(): AuditReport['entries'] {
  return { read: 0, public: 0, sealed: 0, decrypted: 0, denied: 0 };
}

/** Notes from the server are bounded before they are parsed (openNote checks again, after decoding). */
function requireNoteSize(note: string, what: string): void {
  if (typeof note !== 'string' || note.length === 0 || note.length > MAX_NOTE_BYTES) throw new AuditFormatError(`the ${what} is empty or larger than ${MAX_NOTE_BYTES} bytes`);
}
