/**
 * Where the reference server keeps its Trusted Log Module's secrets (docs/audit.md, "Running the
 * TLM"): the log's initial key A_0, the checkpoint signing key (ML-DSA-87, suite 1), the admin token
 * that registers verifiers, the last checkpoint signed and the verifier registry — one JSON file,
 * mode 0600, replaced atomically (write a temporary file, fsync, rename, fsync the directory), so a
 * crash leaves either the old or the new file, never half of one.
 *
 * The file is the TLM's state in software: whoever reads it can derive every entry key and sign
 * checkpoints. In a deployment with a TEE the same state would live inside the enclave (sealed to
 * it); docs/audit.md says what that changes.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { base64Decode, base64Encode } from '../../audit/base64.js';
import { type Checkpoint, parseCheckpoint } from '../../audit/checkpoint.js';
import { AUDIT_KEY_BYTES, auditPrimitives } from '../../audit/key-schedule.js';
import { type NoteSigner, noteSigner, openNote } from '../../audit/signed-note.js';
import { TrustedLogModule, type VerifierRegistration } from '../../audit/tlm.js';
import { AuditFormatError, AuditStateError } from '../../errors.js';

const KEY_FILE_VERSION = 1;
/** Bytes of a verifier's access token (RegisterVerifier, ReleaseKeys). */
export const ACCESS_TOKEN_BYTES = 32;

/** What the key file holds, in memory. */
export interface TlmSecrets {
  origin: string;
  initialKey: Uint8Array;
  /** Seals the SAM's writer state in the database (writer-state-seal.ts). */
  stateKey: Uint8Array;
  signKeys: { publicKey: Uint8Array; secretKey: Uint8Array };
  adminToken: string;
  lastSignedNote: string | undefined;
  verifiers: VerifierRegistration[];
  /** SHA-256 of each verifier's access token, by verifier id. */
  verifierTokens: Record<string, Uint8Array>;
}

interface KeyFileJson {
  version: number;
  origin: string;
  initialKey: string;
  /** Absent in files written before writer states were sealed: made on load. */
  stateKey?: string;
  signPublicKey: string;
  signSecretKey: string;
  adminToken: string;
  lastSigned: string | null;
  verifiers: { id: string; kemPublicKey: string; entitlement: number; tokenHash?: string }[];
}

/** The TLM, its signer and where its state goes; one per server. */
export class TlmHost {
  readonly tlm: TrustedLogModule;
  readonly signer: NoteSigner;
  readonly origin: string;
  readonly logId: Uint8Array;
  private readonly secrets: TlmSecrets;

  private constructor(
    secrets: TlmSecrets,
    private readonly keyFile: string | undefined,
    codeDigest: string,
  ) {
    this.secrets = secrets;
    this.origin = secrets.origin;
    this.logId = new TextEncoder().encode(secrets.origin);
    this.signer = noteSigner(1, secrets.origin, secrets.signKeys);
    const lastSigned = secrets.lastSignedNote ? lastSignedCheckpoint(secrets.lastSignedNote, this.signer, secrets.origin) : undefined;
    this.tlm = new TrustedLogModule({
      logId: this.logId,
      origin: secrets.origin,
      initialKey: secrets.initialKey,
      signer: this.signer,
      codeDigest,
      ...(lastSigned ? { lastSigned } : {}),
      verifiers: secrets.verifiers,
    });
  }

  /**
   * Loads the TLM's state from `keyFile`, or creates it (new A_0, new signing key, new admin token)
   * when the file does not exist. Without a file the state lives in memory only (a throwaway
   * server): it is gone at exit, and so is the ability to serve the log's keys.
   */
  static open(options: { keyFile: string | undefined; origin: string }): { host: TlmHost; created: boolean } {
    const codeDigest = runningCodeDigest();
    const existing = options.keyFile === undefined ? undefined : readKeyFile(options.keyFile);
    if (existing) {
      if (existing.origin !== options.origin) {
        throw new AuditStateError(`the TLM key file is for log "${existing.origin.slice(0, 100)}", not "${options.origin.slice(0, 100)}" (another --domain?)`);
      }
      const host = new TlmHost(existing, options.keyFile, codeDigest);
      if (existing.stateKeyWasMissing) host.persist();
      return { host, created: false };
    }
    const fresh: TlmSecrets = {
      origin: options.origin,
      initialKey: new Uint8Array(randomBytes(AUDIT_KEY_BYTES)),
      stateKey: new Uint8Array(randomBytes(AUDIT_KEY_BYTES)),
      signKeys: auditPrimitives.sig.keygen(),
      adminToken: randomBytes(24).toString('base64url'),
      lastSignedNote: undefined,
      verifiers: [],
      verifierTokens: Object.create(null) as Record<string, Uint8Array>,
    };
    const host = new TlmHost(fresh, options.keyFile, codeDigest);
    host.persist();
    return { host, created: true };
  }

  /** The key that seals the SAM's writer state at rest (a copy: the caller zeroes it). */
  writerStateKey(): Uint8Array {
    return this.secrets.stateKey.slice();
  }

  /** A_0, for the SAM when it creates the log (a copy: the caller zeroes it). */
  initialKey(): Uint8Array {
    return this.secrets.initialKey.slice();
  }

  /** The admin token, for the operator (printed once by `pqe2ee server`). */
  get adminToken(): string {
    return this.secrets.adminToken;
  }

  /** Whether `token` is the admin token (compared in constant time). */
  isAdminToken(token: string): boolean {
    const given = createHash('sha256').update(token).digest();
    const expected = createHash('sha256').update(this.secrets.adminToken).digest();
    return timingSafeEqual(given, expected);
  }

  /** The last signed checkpoint note, if any. */
  get lastSignedNote(): string | undefined {
    return this.secrets.lastSignedNote;
  }

  /**
   * Records a newly signed checkpoint and the current registry durably. Called before the note is
   * handed to anyone: a TLM restarted from an older file could otherwise be made to sign a fork.
   */
  commitSigned(note: string): void {
    this.secrets.lastSignedNote = note;
    this.persist();
  }

  /**
   * Registers a verifier with the SHA-256 of its access token and stores the registry before
   * answering. A repeated registration must bring the same token.
   */
  registerVerifier(verifier: VerifierRegistration, accessToken: Uint8Array): void {
    if (!(accessToken instanceof Uint8Array) || accessToken.length !== ACCESS_TOKEN_BYTES) throw new AuditFormatError(`an access token is ${ACCESS_TOKEN_BYTES} bytes`);
    const known = this.secrets.verifierTokens[verifier.id];
    const tokenHash = createHash('sha256').update(accessToken).digest();
    if (known && !timingSafeEqual(known, tokenHash)) throw new AuditStateError(`verifier ${verifier.id} is already registered with another access token`);
    this.tlm.registerVerifier(verifier);
    this.secrets.verifiers = this.tlm.verifiers();
    this.secrets.verifierTokens[verifier.id] = new Uint8Array(tokenHash);
    this.persist();
  }

  /** Whether `accessToken` is the one `verifierId` registered with (constant time; false for an unknown id). */
  verifierTokenMatches(verifierId: string, accessToken: Uint8Array): boolean {
    const known = Object.hasOwn(this.secrets.verifierTokens, verifierId) ? this.secrets.verifierTokens[verifierId] : undefined;
    const given = createHash('sha256').update(accessToken).digest();
    return known !== undefined && timingSafeEqual(known, given);
  }

  /**
   * Removes the key file this host just created (open() returned created: true), when the log it
   * was created for turned out to exist already: left behind, it would pass for that log's file.
   */
  discardCreatedKeyFile(): void {
    if (this.keyFile !== undefined) rmSync(this.keyFile, { force: true });
  }

  /** Zeroes the secrets held in memory; the TLM refuses to work afterwards. */
  dispose(): void {
    this.tlm.dispose();
    this.secrets.initialKey.fill(0);
    this.secrets.stateKey.fill(0);
    this.secrets.signKeys.secretKey.fill(0);
  }

  /** Writes the key file (atomically); nothing without a file. */
  persist(): void {
    if (this.keyFile === undefined) return;
    const json: KeyFileJson = {
      version: KEY_FILE_VERSION,
      origin: this.secrets.origin,
      initialKey: base64Encode(this.secrets.initialKey),
      stateKey: base64Encode(this.secrets.stateKey),
      signPublicKey: base64Encode(this.secrets.signKeys.publicKey),
      signSecretKey: base64Encode(this.secrets.signKeys.secretKey),
      adminToken: this.secrets.adminToken,
      lastSigned: this.secrets.lastSignedNote ?? null,
      verifiers: this.secrets.verifiers.map((v) => {
        const tokenHash = this.secrets.verifierTokens[v.id];
        return { id: v.id, kemPublicKey: base64Encode(v.kemPublicKey), entitlement: v.entitlement, ...(tokenHash ? { tokenHash: base64Encode(tokenHash) } : {}) };
      }),
    };
    writeFileAtomically(this.keyFile, `${JSON.stringify(json, null, 1)}\n`);
  }
}

/** SHA-256 (hex) of the file this module was loaded from: the code the attestation names. */
function runningCodeDigest(): string {
  try {
    return createHash('sha256')
      .update(readFileSync(fileURLToPath(import.meta.url)))
      .digest('hex');
  } catch {
    // Loaded from something that is not a file (e.g. a data: URL): state that nothing was measured.
    return '0'.repeat(64);
  }
}

function lastSignedCheckpoint(note: string, signer: NoteSigner, origin: string): Checkpoint {
  const checkpoint = parseCheckpoint(openNote(note, [signer]).text);
  if (checkpoint.origin !== origin) throw new AuditStateError('the TLM key file holds a checkpoint of another log');
  return checkpoint;
}

function readKeyFile(path: string): (TlmSecrets & { stateKeyWasMissing: boolean }) | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  let json: KeyFileJson;
  try {
    json = JSON.parse(text) as KeyFileJson;
  } catch {
    throw new AuditStateError(`the TLM key file ${path} is not JSON`);
  }
  if (json.version !== KEY_FILE_VERSION || typeof json.origin !== 'string' || typeof json.adminToken !== 'string' || !Array.isArray(json.verifiers)) {
    throw new AuditStateError(`the TLM key file ${path} is not a version ${KEY_FILE_VERSION} key file`);
  }
  return {
    origin: json.origin,
    initialKey: base64Decode(json.initialKey, 'initialKey'),
    stateKey: typeof json.stateKey === 'string' ? base64Decode(json.stateKey, 'stateKey') : new Uint8Array(randomBytes(AUDIT_KEY_BYTES)),
    stateKeyWasMissing: typeof json.stateKey !== 'string',
    signKeys: { publicKey: base64Decode(json.signPublicKey, 'signPublicKey'), secretKey: base64Decode(json.signSecretKey, 'signSecretKey') },
    adminToken: json.adminToken,
    lastSignedNote: json.lastSigned ?? undefined,
    verifiers: json.verifiers.map((v) => ({ id: v.id, kemPublicKey: base64Decode(v.kemPublicKey, 'kemPublicKey'), entitlement: v.entitlement })),
    // A map without a prototype: verifier ids are chosen by whoever registers them.
    verifierTokens: Object.assign(
      Object.create(null) as Record<string, Uint8Array>,
      Object.fromEntries(json.verifiers.filter((v) => typeof v.tokenHash === 'string').map((v) => [v.id, base64Decode(v.tokenHash as string, 'tokenHash')])),
    ),
  };
}

function writeFileAtomically(path: string, text: string): void {
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, text, { mode: 0o600 });
  const file = openSync(temporary, 'r+');
  try {
    fsyncSync(file);
  } finally {
    closeSync(file);
  }
  renameSync(temporary, path);
  const directory = openSync(dirname(path), 'r');
  try {
    fsyncSync(directory);
  } finally {
    closeSync(directory);
  }
}
