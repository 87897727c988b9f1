/**
 * `pqe2ee audit register | verify | inspect`: the thin command-line wrapper over register.ts,
 * verify.ts and inspect.ts — options, files and exit status. Exit status: 0 when everything
 * passed, 1 when a check failed or the server could not be used, 2 for a usage error.
 */
import { existsSync } from 'node:fs';
import { wipe } from '../../crypto/bytes.js';
import { InvalidClientInputError } from '../../errors.js';
import { type AuditServiceClient, connectAuditService } from './audit-client.js';
import { ADMIN_TOKEN_ENV, resolveAdminToken } from './admin-token.js';
import { integer, optional, type ParsedOptions, parseOptions, required } from './args.js';
import { parseEntitlement } from './entitlement.js';
import { inspectAuditLog } from './inspect.js';
import { readLogKey, readVerifierKeyFile, writeVerifierKeyFile } from './key-file.js';
import { errorText } from './printable.js';
import { registerAuditVerifier } from './register.js';
import { auditReportJson, formatAuditReport } from './report.js';
import { readStateFile, writeStateFile } from './state-file.js';
import { DEFAULT_DEADLINE_MS, DEFAULT_MAX_ENTRIES, DEFAULT_MAX_HEARTBEAT_AGE_MS, verifyAuditLog } from './verify.js';

export const AUDIT_USAGE = `usage: pqe2ee audit <register|verify|inspect> [options]

  register --server URL (--admin-token-file PATH | --admin-token TOKEN) --id VERIFIER_ID
           --entitlement CATS --log-key KEYTEXT_OR_FILE --out FILE
      Makes an ML-KEM-1024 key pair and a 32-byte access token, registers them with the log's
      TLM, and writes the verifier key file FILE (mode 0600; an existing FILE is never
      overwritten; it holds the secret key and the token). CATS: comma list of SESSION_SUITE,
      KEY_PUBLICATION, BUNDLE_HANDOUT, GROUP, METADATA_READ, STORAGE_SEALED, HEARTBEAT, or a
      number. The log key is the server's note verifier key (printed at start). The admin token
      comes from exactly one of --admin-token-file, the environment variable
      ${ADMIN_TOKEN_ENV}, or --admin-token (visible in ps and shell history).

  verify --server URL --key FILE [--state FILE] [--code-digest HEX]
         [--max-heartbeat-age SECONDS] [--max-entries N] [--deadline-seconds N] [--json]
      Checks attestation, checkpoint, consistency (with --state), every entry, the heartbeat
      (default at most ${DEFAULT_MAX_HEARTBEAT_AGE_MS / 1000} s old) and the TLM's MAC statement (it must cover at
      least the --state checkpoint); decrypts what the TLM releases to this verifier. A
      checkpoint of more than --max-entries entries (default ${DEFAULT_MAX_ENTRIES}) is not read, and the
      run stops reading at --deadline-seconds (default ${DEFAULT_DEADLINE_MS / 1000}); both are failures.
      --state FILE is written whenever the latest checkpoint verified (signature, and agreement
      with the attested one) and extends the one stored in FILE (or FILE does not exist yet),
      even if other checks failed: it records the log's signed commitment, which is what the
      next run needs to detect a fork or a rollback. Exit 0 only if every check passed.

  inspect --server URL [--log-key KEYTEXT_OR_FILE] [--from N] [--count N]
      Prints the checkpoint (verified with --log-key) and one line per entry.
`;

/** Where the command writes; process.stdout/stderr by default, captured in tests. */
export interface AuditCommandIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  /** Makes the AuditService client for a URL (tests may pass their own). */
  readonly connect?: (url: string) => AuditServiceClient;
  readonly now?: () => number;
  /** Environment variables (process.env by default): where PQE2EE_AUDIT_ADMIN_TOKEN is read. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

const processIo: AuditCommandIo = { out: (text) => process.stdout.write(text), err: (text) => process.stderr.write(text), env: process.env };

/** Runs `pqe2ee audit …args`; resolves with the exit status. */
export async function runAuditCommand(args: readonly string[], io: AuditCommandIo = processIo): Promise<number> {
  const [subcommand, ...rest] = args;
  if (subcommand === undefined || subcommand === '-h' || subcommand === '--help' || rest.includes('--help') || rest.includes('-h')) {
    io.out(AUDIT_USAGE);
    return subcommand === undefined ? 2 : 0;
  }
  const connect = io.connect ?? connectAuditService;
  try {
    if (subcommand === 'register') return await register(rest, io, connect);
    if (subcommand === 'verify') return await verify(rest, io, connect);
    if (subcommand === 'inspect') return await inspect(rest, io, connect);
    throw new InvalidClientInputError(`unknown subcommand '${subcommand.slice(0, 40)}'`);
  } catch (error) {
    if (error instanceof InvalidClientInputError) {
      io.err(`pqe2ee audit: ${errorText(error)}\n${AUDIT_USAGE}`);
      return 2;
    }
    io.err(`pqe2ee audit ${subcommand}: ${errorText(error)}\n`);
    return 1;
  }
}

async function register(args: readonly string[], io: AuditCommandIo, connect: (url: string) => AuditServiceClient): Promise<number> {
  const options = parseOptions(args, ['--server', '--admin-token', '--admin-token-file', '--id', '--entitlement', '--log-key', '--out']);
  const server = required(options, '--server');
  const adminToken = resolveAdminToken(options, io.env ?? process.env);
  const out = required(options, '--out');
  const entitlement = parseEntitlement(required(options, '--entitlement'));
  const logKey = readLogKey(required(options, '--log-key'));
  // Refused before registering: a registration whose secret key cannot be stored is lost.
  if (existsSync(out)) throw new InvalidClientInputError(`${out.slice(0, 200)} exists; the verifier key file is never overwritten`);
  const key = await registerAuditVerifier({
    client: connect(server),
    server,
    adminToken,
    verifierId: required(options, '--id'),
    entitlement,
    logKeyText: logKey.text,
  });
  try {
    writeVerifierKeyFile(out, key);
  } finally {
    wipe(key.kemSecretKey, key.accessToken);
  }
  io.out(`registered verifier ${key.verifierId} with log ${logKey.key.name} (entitlement 0x${entitlement.toString(16)}); key file ${out}\n`);
  return 0;
}

async function verify(args: readonly string[], io: AuditCommandIo, connect: (url: string) => AuditServiceClient): Promise<number> {
  const options = parseOptions(args, ['--server', '--key', '--state', '--code-digest', '--max-heartbeat-age', '--max-entries', '--deadline-seconds'], ['--json']);
  const server = required(options, '--server');
  const statePath = optional(options, '--state');
  const codeDigest = optional(options, '--code-digest');
  if (codeDigest !== undefined && !/^[0-9a-f]{64}$/.test(codeDigest)) throw new InvalidClientInputError('--code-digest is 64 lowercase hex digits (SHA-256)');
  const maxHeartbeatAgeMs = integer(options, '--max-heartbeat-age', DEFAULT_MAX_HEARTBEAT_AGE_MS / 1000) * 1000;
  const maxEntries = positive(options, '--max-entries', DEFAULT_MAX_ENTRIES);
  const deadlineMs = positive(options, '--deadline-seconds', DEFAULT_DEADLINE_MS / 1000) * 1000;
  const { key, warning } = readVerifierKeyFile(required(options, '--key'));
  if (warning) io.err(`pqe2ee audit verify: warning: ${warning}\n`);
  try {
    const previousCheckpointNote = statePath === undefined ? undefined : readStateFile(statePath);
    const report = await verifyAuditLog({
      client: connect(server),
      key,
      ...(previousCheckpointNote !== undefined ? { previousCheckpointNote } : {}),
      ...(codeDigest !== undefined ? { expectedCodeDigest: codeDigest } : {}),
      maxHeartbeatAgeMs,
      maxEntries,
      deadlineMs,
      ...(io.now ? { now: io.now } : {}),
    });
    if (statePath !== undefined && report.newStateNote !== undefined) writeStateFile(statePath, report.newStateNote);
    io.out(options['--json'] ? auditReportJson(report) : formatAuditReport(report));
    return report.ok ? 0 : 1;
  } finally {
    wipe(key.kemSecretKey, key.accessToken);
  }
}

/** An integer option that must be at least 1 (0 would make every run fail). */
function positive(options: ParsedOptions, name: string, fallback: number): number {
  const value = integer(options, name, fallback);
  if (value < 1) throw new InvalidClientInputError(`${name} must be at least 1`);
  return value;
}

async function inspect(args: readonly string[], io: AuditCommandIo, connect: (url: string) => AuditServiceClient): Promise<number> {
  const options = parseOptions(args, ['--server', '--log-key', '--from', '--count']);
  const logKeyOption = optional(options, '--log-key');
  const logKey = logKeyOption === undefined ? undefined : readLogKey(logKeyOption).key;
  const verified = await inspectAuditLog({
    client: connect(required(options, '--server')),
    ...(logKey ? { logKey } : {}),
    from: integer(options, '--from', 0),
    count: integer(options, '--count', 100),
    write: (line) => io.out(`${line}\n`),
  });
  return verified ? 0 : 1;
}
