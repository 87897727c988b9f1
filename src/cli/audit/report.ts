/**
 * What `pqe2ee audit verify` found, as data (AuditReport, also the `--json` output) and as the
 * readable text report. Every string in a report that could carry server-controlled text was made
 * printable when the report was built (see verify.ts); the text form strips again, to be safe.
 */
import { printable } from './printable.js';

/** The checks of a verification run, in the order they run. */
export type AuditCheckName =
  | 'attestation' // a fresh, signed answer to our nonce (and the expected code, if given)
  | 'checkpoint' // the latest checkpoint is signed by the log key, for this log
  | 'consistency' // the latest checkpoint extends the one the attestation names
  | 'state' // the latest checkpoint extends the one stored in --state
  | 'entries' // every entry: format, index, time, hash chain, inclusion in the checkpoint's tree
  | 'keys' // released entry keys open, and their entries decrypt
  | 'heartbeat' // the newest heartbeat entry is recent enough
  | 'mac-statement'; // the TLM's signed "MAC-verified up to j"

/** One thing that did not verify. `index` is the entry where it shows, when there is one. */
export interface AuditFailure {
  readonly check: AuditCheckName;
  readonly index?: number;
  /** Short machine-readable reason (an EntryFailureReason for entries, else a word of this module). */
  readonly reason: string;
  readonly message: string;
}

/** The outcome of one check. */
export interface AuditCheckResult {
  readonly name: AuditCheckName;
  /** 'skipped' when an earlier failure left nothing to check it against. */
  readonly status: 'ok' | 'failed' | 'skipped';
  readonly detail: string;
}

/** The whole report. */
export interface AuditReport {
  /** True only when every check ran and passed. */
  readonly ok: boolean;
  readonly origin: string;
  readonly checks: readonly AuditCheckResult[];
  /** The first failures, at most MAX_REPORTED_FAILURES. */
  readonly failures: readonly AuditFailure[];
  /** All failures, including those not listed. */
  readonly failureCount: number;
  /** The verified latest checkpoint. */
  readonly checkpoint?: { readonly size: number; readonly rootHash: string };
  /** The size of the checkpoint read from --state, if one was given. */
  readonly previousSize?: number;
  readonly attestation?: { readonly codeDigest: string; readonly checkpointSize: number };
  readonly entries: {
    readonly read: number;
    readonly public: number;
    readonly sealed: number;
    /** Sealed entries decrypted with a released key. */
    readonly decrypted: number;
    /** Sealed entries whose key the TLM refused (not entitled): unread, which is not a failure. */
    readonly denied: number;
  };
  /** Entries per category name (an entry with two categories counts in both). */
  readonly categories: Readonly<Record<string, number>>;
  readonly newestHeartbeat?: { readonly index: number; readonly time: number; readonly ageMs: number };
  /** j of the TLM's signed "MAC-verified up to j". */
  readonly macVerifiedUpTo?: number;
  /** The verified checkpoint note, when it may replace the one in --state. */
  readonly newStateNote?: string;
}

/** The readable report: one line per check, the counts, then each failure with its index. */
export function formatAuditReport(report: AuditReport): string {
  const lines: string[] = [`audit log ${printable(report.origin, 200)}`];
  for (const check of report.checks) lines.push(`  ${check.name.padEnd(14)} ${check.status.padEnd(8)} ${printable(check.detail)}`);
  const e = report.entries;
  lines.push('');
  lines.push(`entries: ${e.read} read (${e.public} public, ${e.sealed} sealed); ${e.decrypted} decrypted, ${e.denied} denied (not entitled)`);
  const categories = Object.entries(report.categories);
  if (categories.length > 0) lines.push(`categories: ${categories.map(([name, count]) => `${name} ${count}`).join(', ')}`);
  if (report.newestHeartbeat) {
    const beat = report.newestHeartbeat;
    lines.push(`newest heartbeat: entry ${beat.index} at ${new Date(beat.time).toISOString()} (${Math.round(beat.ageMs / 1000)} s ago)`);
  }
  if (report.macVerifiedUpTo !== undefined) lines.push(`TLM states every MAC verified up to entry ${report.macVerifiedUpTo}`);
  if (report.failureCount > 0) {
    lines.push('');
    lines.push(`failures (${report.failureCount}${report.failureCount > report.failures.length ? `, first ${report.failures.length} shown` : ''}):`);
    for (const failure of report.failures) {
      const where = failure.index === undefined ? '' : ` at entry ${failure.index}`;
      lines.push(`  ${failure.check}${where} [${printable(failure.reason, 40)}]: ${printable(failure.message)}`);
    }
  }
  lines.push('');
  lines.push(report.ok ? 'result: every check passed' : 'result: FAILED');
  return `${lines.join('\n')}\n`;
}

/** The `--json` report (without the state note, which goes to the --state file). */
export function auditReportJson(report: AuditReport): string {
  const { newStateNote: _note, ...rest } = report;
  return `${JSON.stringify(rest, null, 2)}\n`;
}
