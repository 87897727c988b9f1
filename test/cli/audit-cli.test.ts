// `pqe2ee audit register | verify | inspect` (src/cli/audit/) against an AuditService served from a
// log built here with the pure audit code (LogWriter, MerkleTree, TrustedLogModule): a clean log
// passes, and every attack a server could try on its verifiers is reported where it shows —
// a flipped bit, a deleted entry, a truncated tail, a fork, a replayed attestation, a foreign
// checkpoint key, a stale heartbeat, a wrong access token, a stale MAC statement, a checkpoint too
// large or pages too slow to read — while a verifier without the entitlement is merely denied.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createClient, createRouterTransport, type ServiceImpl } from '@connectrpc/connect';
import { afterAll, describe, expect, it } from 'vitest';
import { AuditCategory } from '../../src/audit/categories.js';
import { formatCheckpoint } from '../../src/audit/checkpoint.js';
import { LogWriter } from '../../src/audit/entries.js';
import { type AuditEntry, decodeEntry } from '../../src/audit/entry-format.js';
import { auditPrimitives } from '../../src/audit/key-schedule.js';
import { MemoryMerkleStore, MerkleTree } from '../../src/audit/merkle-tree.js';
import { formatVerifierKey, type NoteSigner, noteSigner, signNote } from '../../src/audit/signed-note.js';
import { TrustedLogModule, type VerifierRegistration } from '../../src/audit/tlm.js';
import type { AuditServiceClient } from '../../src/cli/audit/audit-client.js';
import { runAuditCommand } from '../../src/cli/audit/command.js';
import { MAX_FAILED_PAGES } from '../../src/cli/audit/entry-scan.js';
import { makeVerifierKey, type VerifierKey } from '../../src/cli/audit/key-file.js';
import { printable } from '../../src/cli/audit/printable.js';
import type { AuditReport } from '../../src/cli/audit/report.js';
import { verifyAuditLog } from '../../src/cli/audit/verify.js';
import { AuditAccessDeniedError } from '../../src/errors.js';
import { AuditService } from '../../src/proto/gen/audit_pb.js';
import { ResponseCode } from '../../src/proto/gen/service_pb.js';

const ORIGIN = 'audit-test.example/audit';
const LOG_ID = new TextEncoder().encode(ORIGIN);
const CODE_DIGEST = 'c0de'.repeat(16);
const ADMIN_TOKEN = 'admin-token-for-tests';
const ALL = AuditCategory.SESSION_SUITE | AuditCategory.KEY_PUBLICATION | AuditCategory.BUNDLE_HANDOUT | AuditCategory.METADATA_READ | AuditCategory.HEARTBEAT;
/** The TLM's checkpoint key (ML-DSA-87, as the server's), and another one under the same name. */
const SIGNER = noteSigner(1, ORIGIN, auditPrimitives.sig.keygen());
const OTHER_SIGNER = noteSigner(1, ORIGIN, auditPrimitives.sig.keygen());
const LOG_KEY_TEXT = formatVerifierKey(SIGNER);

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'pqe2ee-audit-cli-'));
  dirs.push(dir);
  return dir;
}

/** One event of the test log: its categories, whether it is public, and its age in ms. */
interface TestEvent {
  mask: number;
  visibility: 'sealed' | 'public';
  event: Record<string, unknown>;
  ageMs: number;
  /** The event's bytes as stored, instead of its JSON (to store what JSON.stringify would escape). */
  raw?: string;
}

/** A log the way the server keeps one (SAM writer, Merkle tree, TLM), with knobs to misbehave. */
class FakeAuditLog {
  readonly tlm: TrustedLogModule;
  private readonly writer: LogWriter;
  private readonly nodes = new MemoryMerkleStore();
  private readonly tree = MerkleTree.open(this.nodes, 0);
  /** The entries as written (what the TLM re-checks) and as served (what an attacker may edit). */
  readonly written: AuditEntry[] = [];
  served: Uint8Array[] = [];
  /** Signed checkpoint notes, oldest first; the last is served unless `checkpointNote` is set. */
  readonly notes: string[] = [];
  checkpointNote: string | undefined;
  attestation: ((nonce: Uint8Array) => string) | undefined;
  /** Answers GetEntries instead of `served` when set (a hostile or slow server). */
  serveEntries: ((start: number, count: number) => Uint8Array[]) | undefined;
  /** GetEntries from this index on never answers (until the caller aborts). */
  hangEntriesFrom = Number.POSITIVE_INFINITY;
  /** How many entries the MAC statement covers (all written ones unless set). */
  macCovers: number | undefined;
  /** SHA-256 of each verifier's access token, as the real TLM host keeps them. */
  private readonly tokenHashes = new Map<string, Buffer>();
  /** The signer the TLM uses (a second TLM with the same key is how a fork gets signed). */
  constructor(signer: NoteSigner = SIGNER) {
    const initialKey = new Uint8Array(randomBytes(32));
    this.writer = LogWriter.create({ logId: LOG_ID, initialKey });
    this.tlm = new TrustedLogModule({ logId: LOG_ID, origin: ORIGIN, initialKey, signer, codeDigest: CODE_DIGEST });
    initialKey.fill(0);
  }

  append(events: readonly TestEvent[], now = Date.now()): this {
    for (const e of events) {
      const bytes = new TextEncoder().encode(e.raw ?? JSON.stringify(e.event));
      const result = e.visibility === 'public' ? this.writer.appendPublic(e.mask, bytes, now - e.ageMs) : this.writer.append(e.mask, bytes, now - e.ageMs);
      this.nodes.put(this.tree.append(result.leafHash));
      this.writer.commit();
      this.written.push(result.entry);
      this.served.push(result.encodedEntry);
    }
    this.notes.push(this.tlm.signCheckpoint(this.tree.size, this.tree.root(), { tree: this.tree }));
    return this;
  }

  get size(): number {
    return this.tree.size;
  }

  /** Registers a verifier with the TLM and its access token (as src/server/audit/tlm-host.ts does). */
  registerVerifier(verifier: VerifierRegistration, accessToken: Uint8Array): void {
    if (accessToken.length !== 32) throw new Error('an access token is 32 bytes');
    const hash = createHash('sha256').update(accessToken).digest();
    const known = this.tokenHashes.get(verifier.id);
    if (known && !timingSafeEqual(known, hash)) throw new Error('registered with another access token');
    this.tlm.registerVerifier(verifier);
    this.tokenHashes.set(verifier.id, hash);
  }

  /** Whether `accessToken` is the one `verifierId` registered (false for an unknown id, or no token). */
  tokenMatches(verifierId: string, accessToken: Uint8Array): boolean {
    const known = this.tokenHashes.get(verifierId);
    return known !== undefined && timingSafeEqual(known, createHash('sha256').update(accessToken).digest());
  }

  /** The SHA-256 stored for `verifierId`'s token, if any. */
  tokenHashOf(verifierId: string): Buffer | undefined {
    return this.tokenHashes.get(verifierId);
  }

  client(): AuditServiceClient {
    return createClient(
      AuditService,
      createRouterTransport(({ service }) => service(AuditService, this.implementation())),
    );
  }

  private implementation(): ServiceImpl<typeof AuditService> {
    const ok = { code: ResponseCode.OK, reason: '' };
    return {
      getAttestation: (request) => ({ ...ok, attestation: this.attestation ? this.attestation(request.nonce) : this.tlm.attest(request.nonce) }),
      getCheckpoint: () => ({ ...ok, checkpoint: this.checkpointNote ?? (this.notes.at(-1) as string) }),
      getConsistencyProof: (request) => ({ ...ok, proof: this.tree.consistencyProof(Number(request.fromSize), Number(request.toSize)) }),
      getEntries: (request, context) => {
        const start = Number(request.start);
        if (start >= this.hangEntriesFrom) return new Promise((_, reject) => context.signal.addEventListener('abort', () => reject(context.signal.reason)));
        return { ...ok, entries: this.serveEntries ? this.serveEntries(start, request.count) : this.served.slice(start, start + request.count) };
      },
      getInclusionProof: (request) => ({ ...ok, proof: this.tree.inclusionProof(Number(request.index), Number(request.treeSize)) }),
      registerVerifier: (request) => {
        if (request.adminToken !== ADMIN_TOKEN) return { code: ResponseCode.UNAUTHORIZED, reason: 'wrong admin token' };
        this.registerVerifier({ id: request.verifierId, kemPublicKey: request.kemPublicKey, entitlement: request.entitlement }, request.accessToken);
        return { ...ok, reason: 'verifier registered' };
      },
      releaseKeys: (request) => {
        // First, as the real service: only the verifier itself may make the TLM derive keys.
        if (!this.tokenMatches(request.verifierId, request.accessToken)) return { code: ResponseCode.UNAUTHORIZED, reason: 'unknown verifier or wrong access token' };
        const keys = [];
        const denied: bigint[] = [];
        for (const value of request.indexes) {
          const index = Number(value);
          try {
            keys.push(this.tlm.releaseKey(request.verifierId, index, (this.written[index] as AuditEntry).categoryMask, this.size));
          } catch (error) {
            if (!(error instanceof AuditAccessDeniedError)) throw error;
            denied.push(value);
          }
        }
        return {
          code: keys.length === 0 ? ResponseCode.FORBIDDEN : ResponseCode.OK,
          reason: '',
          keys: keys.map((k) => ({ index: BigInt(k.index), categoryMask: k.categoryMask, kemCiphertext: k.kemCiphertext, sealedKey: k.sealedKey })),
          denied,
        };
      },
      getMacStatement: () => ({ ...ok, statement: this.tlm.verifyMacs(this.written.slice(0, this.macCovers ?? this.written.length)) }),
      getKeyInclusion: () => ({ code: ResponseCode.NOT_FOUND, reason: 'unknown device' }),
    };
  }
}

/** A verifier registered directly with the TLM (the CLI's register path has its own test). */
function verifier(log: FakeAuditLog, entitlement = ALL, id = `verifier-${Math.random().toString(36).slice(2, 8)}`): VerifierKey {
  const { publicKey, secretKey } = auditPrimitives.kem.keygen();
  const accessToken = new Uint8Array(randomBytes(32));
  log.registerVerifier({ id, kemPublicKey: publicKey, entitlement }, accessToken);
  return makeVerifierKey({ server: 'http://fake', verifierId: id, entitlement, kemPublicKey: publicKey, kemSecretKey: secretKey, accessToken, logKeyText: LOG_KEY_TEXT });
}

const heartbeat = (ageMs: number): TestEvent => ({ mask: AuditCategory.HEARTBEAT, visibility: 'public', event: { type: 'heartbeat' }, ageMs });
/** A day of traffic: public key publications and heartbeats, sealed hand-outs, reads and suites. */
function traffic(count: number, ageMs = 60_000): TestEvent[] {
  const kinds: Omit<TestEvent, 'ageMs'>[] = [
    { mask: AuditCategory.KEY_PUBLICATION, visibility: 'public', event: { type: 'key-publication', user: 'u1', device: 'd1' } },
    { mask: AuditCategory.BUNDLE_HANDOUT, visibility: 'sealed', event: { type: 'bundle', from: 'u2', of: 'u1' } },
    { mask: AuditCategory.METADATA_READ | AuditCategory.BUNDLE_HANDOUT, visibility: 'sealed', event: { type: 'lookup', by: 'u2' } },
    { mask: AuditCategory.SESSION_SUITE, visibility: 'sealed', event: { type: 'session', suite: 1 } },
    { mask: AuditCategory.HEARTBEAT, visibility: 'public', event: { type: 'heartbeat' } },
  ];
  return Array.from({ length: count }, (_, i) => ({ ...(kinds[i % kinds.length] as Omit<TestEvent, 'ageMs'>), ageMs }));
}

function failuresOf(report: AuditReport, check: string): { index?: number; reason: string }[] {
  return report.failures.filter((f) => f.check === check).map((f) => ({ ...(f.index !== undefined ? { index: f.index } : {}), reason: f.reason }));
}

/** A fresh clean log of 23 entries ending in a recent heartbeat. */
function cleanLog(): FakeAuditLog {
  return new FakeAuditLog().append([...traffic(22), heartbeat(1_000)]);
}

describe('verifyAuditLog on a clean log', () => {
  it('passes every check, decrypts every sealed entry, and counts categories', async () => {
    const log = cleanLog();
    const report = await verifyAuditLog({ client: log.client(), key: verifier(log), pageSize: 7 });
    expect(report.failures).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.checks.map((c) => [c.name, c.status])).toEqual([
      ['attestation', 'ok'],
      ['checkpoint', 'ok'],
      ['consistency', 'ok'],
      ['state', 'skipped'],
      ['entries', 'ok'],
      ['keys', 'ok'],
      ['heartbeat', 'ok'],
      ['mac-statement', 'ok'],
    ]);
    expect(report.entries).toEqual({ read: 23, public: 10, sealed: 13, decrypted: 13, denied: 0 });
    expect(report.categories).toMatchObject({ KEY_PUBLICATION: 5, BUNDLE_HANDOUT: 9, METADATA_READ: 4, SESSION_SUITE: 4, HEARTBEAT: 5 });
    expect(report.newestHeartbeat?.index).toBe(22);
    expect(report.macVerifiedUpTo).toBe(22);
    expect(report.newStateNote).toBe(log.notes.at(-1));
  });

  it('a verifier without the entitlement is denied every sealed key: reported, and not a failure', async () => {
    const log = cleanLog();
    const report = await verifyAuditLog({ client: log.client(), key: verifier(log, AuditCategory.HEARTBEAT) });
    expect(report.failures).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.entries).toMatchObject({ sealed: 13, decrypted: 0, denied: 13 });
    expect(report.checks.find((c) => c.name === 'keys')?.detail).toContain('13 denied');
  });

  it('a partial entitlement decrypts exactly the entries it covers', async () => {
    const log = cleanLog();
    const report = await verifyAuditLog({ client: log.client(), key: verifier(log, AuditCategory.BUNDLE_HANDOUT) });
    // Plain hand-outs are covered; hand-outs that are also metadata reads, and suites, are not.
    expect(report.entries).toMatchObject({ sealed: 13, decrypted: 5, denied: 8 });
    expect(report.ok).toBe(true);
  });
});

describe('verifyAuditLog against a misbehaving server', () => {
  it('a flipped bit in a stored entry is a failure at that entry', async () => {
    const log = cleanLog();
    const key = verifier(log);
    const tampered = (log.served[9] as Uint8Array).slice();
    tampered[45] = (tampered[45] as number) ^ 0x01; // inside the ciphertext
    log.served[9] = tampered;
    const report = await verifyAuditLog({ client: log.client(), key });
    expect(report.ok).toBe(false);
    expect(failuresOf(report, 'entries')).toContainEqual({ index: 9, reason: 'chain' });
    expect(failuresOf(report, 'entries')).toContainEqual({ index: 9, reason: 'root' });
    expect(report.failures.every((f) => f.index === 9)).toBe(true);
  });

  it('a flipped bit in a MAC (outside the hash chain) is found through the tree, at its index', async () => {
    const log = cleanLog();
    const key = verifier(log);
    const tampered = (log.served[14] as Uint8Array).slice();
    tampered[tampered.length - 1] = (tampered.at(-1) as number) ^ 0x80;
    log.served[14] = tampered;
    const report = await verifyAuditLog({ client: log.client(), key });
    expect(report.ok).toBe(false);
    expect(failuresOf(report, 'entries')).toEqual([{ index: 14, reason: 'root' }]);
  });

  it('an entry that does not decode is a failure at its index, and the rest is still checked', async () => {
    const log = cleanLog();
    const key = verifier(log);
    const garbled = (log.served[0] as Uint8Array).slice();
    garbled[0] = 9; // an unknown format version
    log.served[0] = garbled;
    const report = await verifyAuditLog({ client: log.client(), key });
    expect(failuresOf(report, 'entries')).toEqual([
      { index: 0, reason: 'format' },
      { index: 0, reason: 'root' },
    ]);
    // Entry 1's associated data holds entry 0's unknown chain value: it is the one left unread.
    expect(report.entries).toMatchObject({ read: 23, decrypted: 12 });
  });

  it('a deleted middle entry is a failure at its index', async () => {
    const log = cleanLog();
    const key = verifier(log);
    log.served.splice(11, 1);
    const report = await verifyAuditLog({ client: log.client(), key, pageSize: 5 });
    expect(report.ok).toBe(false);
    const entries = failuresOf(report, 'entries');
    expect(entries).toContainEqual({ index: 11, reason: 'index' });
    expect(entries).toContainEqual({ index: 11, reason: 'root' });
    expect(Math.min(...entries.map((f) => f.index ?? Number.POSITIVE_INFINITY))).toBe(11);
  });

  it('a tail cut off against a served full checkpoint is reported as truncated', async () => {
    const log = cleanLog();
    const key = verifier(log);
    log.served = log.served.slice(0, 20);
    const report = await verifyAuditLog({ client: log.client(), key });
    expect(report.ok).toBe(false);
    expect(failuresOf(report, 'entries')).toContainEqual({ index: 20, reason: 'truncated' });
  });

  it('a truncated log behind an old checkpoint is caught by the --state checkpoint, which it does not replace', async () => {
    const log = new FakeAuditLog().append(traffic(10)).append([...traffic(10), heartbeat(500)]);
    const key = verifier(log);
    const first = await verifyAuditLog({ client: log.client(), key });
    expect(first.ok).toBe(true);
    const state = first.newStateNote as string;
    // The server rolls back to its first (genuinely signed) checkpoint and the entries it covered.
    log.checkpointNote = log.notes[0];
    log.served = log.served.slice(0, 10);
    log.attestation = (nonce) => new FakeAuditLog().tlm.attest(nonce); // keep the attestation out of the way
    const report = await verifyAuditLog({ client: log.client(), key, previousCheckpointNote: state });
    expect(report.ok).toBe(false);
    expect(failuresOf(report, 'state')).toEqual([{ reason: 'failed' }]);
    expect(report.failures.find((f) => f.check === 'state')?.message).toContain('truncated or rolled back');
    expect(report.newStateNote).toBeUndefined();
  });

  it('a fork at the same size (another root) is caught against --state', async () => {
    const log = cleanLog();
    const key = verifier(log);
    const state = (await verifyAuditLog({ client: log.client(), key })).newStateNote as string;
    // Same signing key, same size, other content: a TLM whose state was reset signs a fork.
    const fork = new FakeAuditLog().append([...traffic(21), heartbeat(2_000), heartbeat(1_000)]);
    expect(fork.size).toBe(log.size);
    const report = await verifyAuditLog({ client: fork.client(), key: verifier(fork, ALL, key.verifierId), previousCheckpointNote: state });
    expect(report.ok).toBe(false);
    expect(report.failures.find((f) => f.check === 'state')?.message).toContain('a fork');
    expect(report.newStateNote).toBeUndefined();
  });

  it('a larger checkpoint that does not extend the --state one is caught by its consistency proof', async () => {
    const log = cleanLog();
    const key = verifier(log);
    const state = (await verifyAuditLog({ client: log.client(), key })).newStateNote as string;
    const fork = new FakeAuditLog().append([...traffic(30), heartbeat(1_000)]);
    const report = await verifyAuditLog({ client: fork.client(), key: verifier(fork, ALL, key.verifierId), previousCheckpointNote: state });
    expect(report.ok).toBe(false);
    expect(report.failures.find((f) => f.check === 'state')?.message).toContain('does not extend the checkpoint in the state file');
    expect(report.newStateNote).toBeUndefined();
  });

  it('a replayed attestation (an answer to another nonce) fails', async () => {
    const log = cleanLog();
    const key = verifier(log);
    const recorded = log.tlm.attest(new Uint8Array(32).fill(7));
    log.attestation = () => recorded;
    const report = await verifyAuditLog({ client: log.client(), key });
    expect(report.ok).toBe(false);
    expect(failuresOf(report, 'attestation')).toEqual([{ reason: 'failed' }]);
    expect(report.failures[0]?.message).toContain('another nonce');
  });

  it('an attestation naming another code digest than --code-digest fails', async () => {
    const log = cleanLog();
    const report = await verifyAuditLog({ client: log.client(), key: verifier(log), expectedCodeDigest: 'beef'.repeat(16) });
    expect(failuresOf(report, 'attestation')).toEqual([{ reason: 'failed' }]);
    const passing = await verifyAuditLog({ client: log.client(), key: verifier(log), expectedCodeDigest: CODE_DIGEST });
    expect(passing.ok).toBe(true);
  });

  it('a checkpoint signed by another key fails, and nothing is checked against it', async () => {
    const log = cleanLog();
    const key = verifier(log);
    const impostor = new FakeAuditLog(OTHER_SIGNER).append([...traffic(22), heartbeat(1_000)]);
    log.checkpointNote = impostor.notes.at(-1);
    const report = await verifyAuditLog({ client: log.client(), key });
    expect(report.ok).toBe(false);
    expect(failuresOf(report, 'checkpoint')).toEqual([{ reason: 'failed' }]);
    expect(report.checks.find((c) => c.name === 'entries')?.status).toBe('skipped');
    expect(report.newStateNote).toBeUndefined();
  });

  it('an old newest heartbeat fails (the tail may be cut off or the SAM stopped)', async () => {
    const log = new FakeAuditLog().append([heartbeat(20 * 60_000), ...traffic(4, 10 * 60_000).filter((e) => e.mask !== AuditCategory.HEARTBEAT)]);
    const key = verifier(log);
    const report = await verifyAuditLog({ client: log.client(), key });
    expect(report.ok).toBe(false);
    expect(failuresOf(report, 'heartbeat')).toEqual([{ index: 0, reason: 'stale' }]);
    // The same log passes with a bound longer than its age.
    const lenient = await verifyAuditLog({ client: log.client(), key, maxHeartbeatAgeMs: 30 * 60_000 });
    expect(lenient.ok).toBe(true);
  });

  it('a newest heartbeat dated far ahead (to look fresh for long) fails', async () => {
    const log = new FakeAuditLog().append([heartbeat(-3_600_000)]);
    const report = await verifyAuditLog({ client: log.client(), key: verifier(log), now: () => Date.now() });
    expect(failuresOf(report, 'heartbeat')).toEqual([{ index: 0, reason: 'future' }]);
  });

  it('a relabelled key (released for another entry) does not open, at that index', async () => {
    const log = cleanLog();
    const key = verifier(log);
    const client = log.client();
    const relabel: AuditServiceClient = {
      ...client,
      releaseKeys: async (request) => {
        const response = await client.releaseKeys(request);
        const [first, second] = response.keys;
        if (first && second) [first.kemCiphertext, second.kemCiphertext] = [second.kemCiphertext, first.kemCiphertext];
        return response;
      },
    };
    const report = await verifyAuditLog({ client: relabel, key });
    expect(report.ok).toBe(false);
    expect(failuresOf(report, 'keys')).toEqual([
      { index: 1, reason: 'unwrap' },
      { index: 2, reason: 'unwrap' },
    ]);
  });
});

describe('verifyAuditLog: the access token', () => {
  it('every ReleaseKeys carries the registered token; a wrong one is reported once and nothing is decrypted', async () => {
    const log = cleanLog();
    const key = verifier(log);
    const client = log.client();
    const seen: Uint8Array[] = [];
    const recording: AuditServiceClient = {
      ...client,
      releaseKeys: async (request, options) => {
        seen.push(Uint8Array.from(request.accessToken ?? []));
        return client.releaseKeys(request, options);
      },
    };
    const passing = await verifyAuditLog({ client: recording, key, pageSize: 5 });
    expect(passing.failures).toEqual([]);
    expect(seen.length).toBeGreaterThan(1);
    expect(seen.every((token) => Buffer.from(token).equals(Buffer.from(key.accessToken)))).toBe(true);

    const wrong = { ...key, accessToken: new Uint8Array(randomBytes(32)) };
    const report = await verifyAuditLog({ client: log.client(), key: wrong, pageSize: 5 });
    expect(report.ok).toBe(false);
    expect(failuresOf(report, 'keys')).toEqual([{ index: 0, reason: 'unauthorized' }]);
    expect(report.entries).toMatchObject({ sealed: 13, decrypted: 0 });
    // The entries themselves are still checked: only their keys are refused.
    expect(failuresOf(report, 'entries')).toEqual([]);
  });
});

describe('verifyAuditLog: bounded against a hostile server', () => {
  it(`a signed checkpoint of 2^53 − 1 entries is refused unread (--max-entries), not scanned`, async () => {
    const log = cleanLog();
    const key = verifier(log);
    log.checkpointNote = signNote(formatCheckpoint({ origin: ORIGIN, size: Number.MAX_SAFE_INTEGER, rootHash: new Uint8Array(32).fill(1), extensions: [] }), [SIGNER]);
    let pages = 0;
    log.serveEntries = () => {
      pages++;
      return [];
    };
    const report = await verifyAuditLog({ client: log.client(), key });
    expect(report.ok).toBe(false);
    expect(failuresOf(report, 'entries')).toEqual([{ reason: 'too-large' }]);
    expect(report.failures.find((f) => f.reason === 'too-large')?.message).toContain(`more than the 10000000`);
    expect(pages).toBe(0);
    expect(report.checks.find((c) => c.name === 'heartbeat')?.status).toBe('skipped');
    // A smaller bound refuses a small log the same way; the log's own size passes.
    expect(failuresOf(await verifyAuditLog({ client: cleanLog().client(), key: verifier(log), maxEntries: 22 }), 'entries')).toEqual([{ reason: 'too-large' }]);
    const fresh = cleanLog();
    expect((await verifyAuditLog({ client: fresh.client(), key: verifier(fresh), maxEntries: 23 })).ok).toBe(true);
  });

  it(`junk pages: the scan stops after ${MAX_FAILED_PAGES} failed pages and says where the entries leave the tree`, async () => {
    const log = cleanLog();
    const key = verifier(log);
    let pages = 0;
    log.serveEntries = (_start, count) => {
      pages++;
      return Array.from({ length: count }, () => new Uint8Array(randomBytes(80)));
    };
    const report = await verifyAuditLog({ client: log.client(), key, pageSize: 5 });
    expect(report.ok).toBe(false);
    expect(pages).toBe(MAX_FAILED_PAGES);
    expect(report.entries.read).toBe(15);
    const entries = failuresOf(report, 'entries');
    expect(entries.filter((f) => f.reason === 'format')).toHaveLength(15);
    expect(entries).toContainEqual({ index: 15, reason: 'failed-pages' });
    expect(entries).toContainEqual({ index: 0, reason: 'root' });
  });

  it('one entry per call: stopped after three short pages, reported as a truncation where it stops', async () => {
    const log = cleanLog();
    const key = verifier(log);
    let pages = 0;
    log.serveEntries = (start) => {
      pages++;
      return log.served.slice(start, start + 1);
    };
    const report = await verifyAuditLog({ client: log.client(), key });
    expect(pages).toBe(MAX_FAILED_PAGES);
    expect(report.entries.read).toBe(3);
    expect(failuresOf(report, 'entries')).toEqual([
      { index: 1, reason: 'missing' },
      { index: 2, reason: 'missing' },
      { index: 3, reason: 'missing' },
      { index: 3, reason: 'failed-pages' },
      { index: 3, reason: 'truncated' },
    ]);
  });

  it('slow full pages: the scan stops at the deadline (by the clock), as a failure', async () => {
    const log = cleanLog();
    const key = verifier(log);
    let clock = Date.now();
    log.serveEntries = (start, count) => {
      clock += 20 * 60_000; // each page takes 20 minutes
      return log.served.slice(start, start + count);
    };
    const report = await verifyAuditLog({ client: log.client(), key, pageSize: 5, now: () => clock });
    expect(report.ok).toBe(false);
    expect(report.entries.read).toBe(15);
    expect(failuresOf(report, 'entries')).toEqual([{ index: 15, reason: 'deadline' }]);
    expect(report.checks.find((c) => c.name === 'entries')?.detail).toBe('15 of 23 entries read; stopped (deadline)');
    expect(report.checks.find((c) => c.name === 'heartbeat')?.status).toBe('skipped');
  });

  it('a call that never answers is aborted at the deadline', async () => {
    const log = cleanLog();
    const key = verifier(log);
    log.hangEntriesFrom = 10;
    const began = Date.now();
    const report = await verifyAuditLog({ client: log.client(), key, pageSize: 5, deadlineMs: 400 });
    expect(Date.now() - began).toBeLessThan(10_000);
    expect(report.entries.read).toBe(10);
    expect(failuresOf(report, 'entries')).toEqual([{ index: 10, reason: 'deadline' }]);
  });
});

describe('verifyAuditLog: the MAC statement must be fresh', () => {
  it('"up-to 0" on a log whose --state checkpoint has 23 entries fails; without --state it passes and says what it covers', async () => {
    const log = cleanLog();
    const key = verifier(log);
    const state = (await verifyAuditLog({ client: log.client(), key })).newStateNote as string;
    log.macCovers = 1;
    const stale = await verifyAuditLog({ client: log.client(), key, previousCheckpointNote: state });
    expect(stale.ok).toBe(false);
    expect(failuresOf(stale, 'mac-statement')).toEqual([{ index: 1, reason: 'stale' }]);
    expect(stale.checks.find((c) => c.name === 'mac-statement')?.detail).toContain('covers 1 of 23 entries');
    const first = await verifyAuditLog({ client: log.client(), key });
    expect(first.ok).toBe(true);
    expect(first.checks.find((c) => c.name === 'mac-statement')).toMatchObject({ status: 'ok', detail: expect.stringContaining('covers 1 of 23 entries') });
  });

  it('a statement reaching exactly the --state checkpoint passes, though the log grew since', async () => {
    const log = new FakeAuditLog().append(traffic(10));
    const key = verifier(log);
    const state = log.notes.at(-1) as string;
    log.append([...traffic(10), heartbeat(500)]);
    log.macCovers = 10;
    const report = await verifyAuditLog({ client: log.client(), key, previousCheckpointNote: state });
    expect(report.failures).toEqual([]);
    expect(report.checks.find((c) => c.name === 'mac-statement')?.detail).toContain('covers 10 of 21 entries');
    log.macCovers = 9;
    expect(failuresOf(await verifyAuditLog({ client: log.client(), key, previousCheckpointNote: state }), 'mac-statement')).toEqual([{ index: 9, reason: 'stale' }]);
  });
});

describe('pqe2ee audit (command line)', () => {
  const run = async (log: FakeAuditLog, args: string[], env: Record<string, string> = {}): Promise<{ status: number; out: string; err: string }> => {
    let out = '';
    let err = '';
    const status = await runAuditCommand(args, { out: (t) => (out += t), err: (t) => (err += t), connect: () => log.client(), env });
    return { status, out, err };
  };
  const registerArgs = (keyFile: string, ...adminToken: string[]): string[] => [
    'register',
    '--server',
    'x',
    ...adminToken,
    '--id',
    'a',
    '--entitlement',
    '29',
    '--log-key',
    LOG_KEY_TEXT,
    '--out',
    keyFile,
  ];

  it('register writes a 0600 key file, never overwrites it; verify passes and keeps --state', async () => {
    const log = cleanLog();
    const dir = tempDir();
    const keyFile = path.join(dir, 'verifier.json');
    const logKeyFile = path.join(dir, 'log.key');
    writeFileSync(logKeyFile, `${LOG_KEY_TEXT}\n`);
    const register = [
      'register',
      '--server',
      'http://fake',
      '--admin-token',
      ADMIN_TOKEN,
      '--id',
      'auditor-1',
      '--entitlement',
      'bundle_handout,METADATA_READ,SESSION_SUITE',
      '--log-key',
      logKeyFile,
      '--out',
      keyFile,
    ];
    const registered = await run(log, register);
    expect(registered.err).toBe('');
    expect(registered.status).toBe(0);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const json = JSON.parse(readFileSync(keyFile, 'utf8'));
    expect(json).toMatchObject({ version: 1, server: 'http://fake', verifierId: 'auditor-1', entitlement: 21, logKey: LOG_KEY_TEXT });
    // The access token: 32 random bytes in the key file, only their SHA-256 at the TLM, never printed.
    const token = Buffer.from(json.accessToken, 'base64');
    expect(token).toHaveLength(32);
    expect(log.tokenHashOf('auditor-1')).toEqual(createHash('sha256').update(token).digest());
    expect(registered.out).not.toContain(json.accessToken);
    const before = readFileSync(keyFile, 'utf8');
    expect((await run(log, register)).status).toBe(2);
    expect(readFileSync(keyFile, 'utf8')).toBe(before);

    const state = path.join(dir, 'state.note');
    const verified = await run(log, ['verify', '--server', 'http://fake', '--key', keyFile, '--state', state]);
    expect(verified.out).toContain('result: every check passed');
    expect(verified.status).toBe(0);
    expect(readFileSync(state, 'utf8')).toBe(log.notes.at(-1));
    const again = await run(log, ['verify', '--server', 'http://fake', '--key', keyFile, '--state', state, '--json']);
    expect(again.status).toBe(0);
    const report = JSON.parse(again.out);
    expect(report).toMatchObject({ ok: true, previousSize: 23, entries: { decrypted: 13, denied: 0 } });
    for (const output of [verified.out, verified.err, again.out, again.err]) {
      expect(output).not.toContain(json.accessToken);
      expect(output).not.toContain(token.toString('hex'));
    }
  });

  it('a key file without an access token is refused by verify with a message to register again', async () => {
    const log = cleanLog();
    const dir = tempDir();
    const keyFile = path.join(dir, 'verifier.json');
    expect((await run(log, registerArgs(keyFile, '--admin-token', ADMIN_TOKEN))).status).toBe(0);
    const { accessToken: _token, ...old } = JSON.parse(readFileSync(keyFile, 'utf8'));
    const oldFile = path.join(dir, 'old-verifier.json');
    writeFileSync(oldFile, JSON.stringify(old), { mode: 0o600 });
    const result = await run(log, ['verify', '--server', 'x', '--key', oldFile]);
    expect(result.status).toBe(2);
    expect(result.err).toContain('has no accessToken');
    expect(result.err).toContain('Register this verifier again');
  });

  it('the admin token may come from --admin-token-file or PQE2EE_AUDIT_ADMIN_TOKEN, from exactly one source', async () => {
    const log = cleanLog();
    const dir = tempDir();
    const tokenFile = path.join(dir, 'admin-token');
    writeFileSync(tokenFile, `${ADMIN_TOKEN}\n`, { mode: 0o600 });
    const fromFile = await run(log, registerArgs(path.join(dir, 'a.json'), '--admin-token-file', tokenFile));
    expect(fromFile.err).toBe('');
    expect(fromFile.status).toBe(0);
    const env = { PQE2EE_AUDIT_ADMIN_TOKEN: ADMIN_TOKEN };
    // (The fake TLM accepts a repeated id with another key only in a new log.)
    const fromEnv = await run(cleanLog(), registerArgs(path.join(dir, 'b.json')), env);
    expect(fromEnv.err).toBe('');
    expect(fromEnv.status).toBe(0);
    const wrongEnv = await run(cleanLog(), registerArgs(path.join(dir, 'c.json')), { PQE2EE_AUDIT_ADMIN_TOKEN: 'wrong' });
    expect(wrongEnv.status).toBe(1);
    expect(wrongEnv.err).toContain('UNAUTHORIZED');
    for (const [args, environment] of [
      [registerArgs(path.join(dir, 'd.json')), {}],
      [registerArgs(path.join(dir, 'd.json'), '--admin-token', ADMIN_TOKEN), env],
      [registerArgs(path.join(dir, 'd.json'), '--admin-token-file', tokenFile), env],
      [registerArgs(path.join(dir, 'd.json'), '--admin-token-file', tokenFile, '--admin-token', ADMIN_TOKEN), {}],
      [registerArgs(path.join(dir, 'd.json'), '--admin-token-file', path.join(dir, 'absent')), {}],
    ] as const) {
      const refused = await run(cleanLog(), [...args], environment);
      expect(refused.status).toBe(2);
      expect(refused.err).toMatch(/exactly once|cannot be read/);
    }
    expect(() => statSync(path.join(dir, 'd.json'))).toThrow();
  });

  it('--max-entries below the checkpoint size fails the run (exit 1) without reading; zero is a usage error', async () => {
    const log = cleanLog();
    const keyFile = path.join(tempDir(), 'verifier.json');
    expect((await run(log, registerArgs(keyFile, '--admin-token', ADMIN_TOKEN))).status).toBe(0);
    const refused = await run(log, ['verify', '--server', 'x', '--key', keyFile, '--max-entries', '10']);
    expect(refused.status).toBe(1);
    expect(refused.out).toContain('entries [too-large]: the checkpoint covers 23 entries, more than the 10');
    expect((await run(log, ['verify', '--server', 'x', '--key', keyFile, '--max-entries', '23', '--deadline-seconds', '60'])).status).toBe(0);
    expect((await run(log, ['verify', '--server', 'x', '--key', keyFile, '--deadline-seconds', '0'])).status).toBe(2);
  });

  it('--help says when --state is written: a verified, extending checkpoint, even if other checks failed', async () => {
    const help = await run(cleanLog(), ['verify', '--help']);
    expect(help.status).toBe(0);
    expect(help.out.replace(/\s+/g, ' ')).toContain(
      "--state FILE is written whenever the latest checkpoint verified (signature, and agreement with the attested one) and extends the one stored in FILE (or FILE does not exist yet), even if other checks failed: it records the log's signed commitment",
    );
    expect(help.out).toContain('--admin-token-file PATH');
    expect(help.out).toContain('PQE2EE_AUDIT_ADMIN_TOKEN');
  });

  it('verify exits 1 on a failure, names the index, and still records the newer verified checkpoint in --state', async () => {
    const log = cleanLog();
    const dir = tempDir();
    const keyFile = path.join(dir, 'verifier.json');
    await run(log, ['register', '--server', 'x', '--admin-token', ADMIN_TOKEN, '--id', 'a', '--entitlement', '29', '--log-key', LOG_KEY_TEXT, '--out', keyFile]);
    const state = path.join(dir, 'state.note');
    writeFileSync(state, log.notes.at(-1) as string);
    log.append(traffic(3));
    const tampered = (log.served[5] as Uint8Array).slice();
    tampered[40] = (tampered[40] as number) ^ 0x10;
    log.served[5] = tampered;
    const result = await run(log, ['verify', '--server', 'x', '--key', keyFile, '--state', state]);
    expect(result.status).toBe(1);
    expect(result.out).toContain('entries at entry 5 [chain]');
    expect(result.out).toContain('result: FAILED');
    // The entries failed, but the checkpoint verified and extends the stored one: it is recorded.
    expect(readFileSync(state, 'utf8')).toBe(log.notes.at(-1));
  });

  it('usage errors exit 2', async () => {
    const log = cleanLog();
    expect((await run(log, ['verify', '--server', 'x'])).status).toBe(2);
    expect((await run(log, ['register', '--server', 'x', '--entitlement', 'NOPE'])).status).toBe(2);
    expect((await run(log, ['frobnicate'])).status).toBe(2);
    expect(
      (await run(log, ['register', '--server', 'x', '--admin-token', 't', '--id', 'i', '--entitlement', '128', '--log-key', LOG_KEY_TEXT, '--out', '/nonexistent/x'])).status,
    ).toBe(2);
  });

  it('a wrong admin token is refused by the server (exit 1) and leaves no key file', async () => {
    const log = cleanLog();
    const keyFile = path.join(tempDir(), 'verifier.json');
    const result = await run(log, ['register', '--server', 'x', '--admin-token', 'wrong', '--id', 'a', '--entitlement', 'GROUP', '--log-key', LOG_KEY_TEXT, '--out', keyFile]);
    expect(result.status).toBe(1);
    expect(result.err).toContain('UNAUTHORIZED');
    expect(() => statSync(keyFile)).toThrow();
  });

  it('inspect prints the verified checkpoint and one line per entry, control characters stripped', async () => {
    const log = new FakeAuditLog().append([
      { mask: AuditCategory.KEY_PUBLICATION, visibility: 'public', event: {}, raw: '{"type":"key-publication","user":"evil\u001b[2J\u001b]0;pwned\u0007\u202e\u0085"}', ageMs: 0 },
      { mask: AuditCategory.BUNDLE_HANDOUT, visibility: 'sealed', event: { secret: 'never shown' }, ageMs: 0 },
      heartbeat(0),
    ]);
    const verified = await run(log, ['inspect', '--server', 'x', '--log-key', LOG_KEY_TEXT, '--from', '0', '--count', '2']);
    expect(verified.status).toBe(0);
    const lines = verified.out.trim().split('\n');
    expect(lines[0]).toBe(`checkpoint (verified with ${ORIGIN}):`);
    expect(lines).toContain('  size   3');
    expect(lines).toHaveLength(6);
    expect(lines[4]).toMatch(/^0 {2}\d{4}-\d\d-\d\dT.*Z {2}KEY_PUBLICATION {2}public {2}\{"type":"key-publication"/);
    expect(verified.out).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/);
    expect(lines[4]).toContain('evil\ufffd[2J\ufffd]0;pwned\ufffd');
    expect(lines[5]).toMatch(/^1 .* BUNDLE_HANDOUT {2}sealed \(\d+ bytes\)$/);
    expect(verified.out).not.toContain('never shown');
    const unverified = await run(log, ['inspect', '--server', 'x']);
    expect(unverified.out).toContain('NOT verified');
    const wrongKey = await run(log, ['inspect', '--server', 'x', '--log-key', formatVerifierKey(OTHER_SIGNER)]);
    expect(wrongKey.status).toBe(1);
    expect(wrongKey.out).toContain('does NOT verify');
  });
});

describe('printable', () => {
  it('replaces control and bidi characters and bounds the length', () => {
    expect(printable('a\u001b[31mb\u202ec\u0085', 100)).toBe('a\ufffd[31mb\ufffdc\ufffd');
    expect(printable('x'.repeat(10), 4)).toBe('xxxx…');
  });
});

// Keeps the decodeEntry import honest: the served bytes are the entries the TLM checks.
it('the fake serves what its writer wrote', () => {
  const log = cleanLog();
  expect(log.served.map((bytes) => decodeEntry(bytes).index)).toEqual(log.written.map((e) => e.index));
});

describe('pqe2ee audit against the real server', () => {
  it('registers a verifier, and verify passes on the log of two clients talking, then again from --state', async () => {
    const { startServer } = await import('../../src/server/index.js');
    const { createClient: createE2eeClient } = await import('../../src/client/index.js');
    const server = await startServer({ port: 0, dbPath: ':memory:', log: () => undefined, audit: { heartbeatMs: 200, checkpointIntervalMs: 100 } });
    const clients: { stop(): Promise<void> }[] = [];
    try {
      const audit = server.audit;
      if (!audit) throw new Error('the server keeps no audit log');
      const alice = createE2eeClient({ server: server.url, deviceId: 'alice-phone', suite: 2, auditLogKey: audit.logKey });
      const bob = createE2eeClient({ server: server.url, deviceId: 'bob-phone', suite: 2, auditLogKey: audit.logKey });
      clients.push(alice, bob);
      await alice.start();
      await bob.start();
      await alice.sendMessage(bob.address.userId, 'hello bob');
      await new Promise((resolve) => setTimeout(resolve, 500)); // a heartbeat and a checkpoint over it

      const dir = tempDir();
      const keyFile = path.join(dir, 'verifier.json');
      const state = path.join(dir, 'state.note');
      let out = '';
      let err = '';
      const io = { out: (t: string) => (out += t), err: (t: string) => (err += t) };
      const everything = 'SESSION_SUITE,KEY_PUBLICATION,BUNDLE_HANDOUT,GROUP,METADATA_READ,STORAGE_SEALED,HEARTBEAT';
      const registerArgs = [
        'register',
        '--server',
        server.url,
        '--admin-token',
        audit.adminToken,
        '--id',
        'e2e-auditor',
        '--entitlement',
        everything,
        '--log-key',
        audit.logKey,
        '--out',
        keyFile,
      ];
      expect(await runAuditCommand(registerArgs, io)).toBe(0);
      expect(err).toBe('');

      out = '';
      const first = await runAuditCommand(['verify', '--server', server.url, '--key', keyFile, '--state', state, '--json'], io);
      const report = JSON.parse(out) as AuditReport;
      expect(report.failures).toEqual([]);
      expect(first).toBe(0);
      expect(report.entries.read).toBeGreaterThan(0);
      expect(report.entries.decrypted).toBe(report.entries.sealed);
      expect(report.categories.KEY_PUBLICATION).toBeGreaterThanOrEqual(2);
      expect(report.categories.HEARTBEAT).toBeGreaterThanOrEqual(1);
      expect(report.macVerifiedUpTo).toBeGreaterThanOrEqual(0);

      await new Promise((resolve) => setTimeout(resolve, 300));
      out = '';
      const second = await runAuditCommand(['verify', '--server', server.url, '--key', keyFile, '--state', state], io);
      expect(out).toContain('result: every check passed');
      expect(second).toBe(0);
      expect(out).toMatch(/state {10}ok {7}extends the stored checkpoint \(size \d+ → \d+\)/);
    } finally {
      for (const client of clients) await client.stop().catch(() => undefined);
      await server.close();
    }
  });
});
