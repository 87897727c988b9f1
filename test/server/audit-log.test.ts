// The server's audit log through its public RPCs, the way a client, a verifier and an attacker
// see it: bundles carry key inclusions that check out, the events of each RPC are in the log,
// keys are released only under an entitlement, attestations answer the verifier's nonce, and a
// server restarted on a rolled-back database or without its TLM key file refuses to run.
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createClient, type Client } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { afterAll, describe, expect, it } from 'vitest';
import { verifyAttestation } from '../../src/audit/attestation.js';
import { AuditCategory } from '../../src/audit/categories.js';
import { openCheckpoint } from '../../src/audit/checkpoint.js';
import { decodeEntry, isPublicEntry } from '../../src/audit/entry-format.js';
import { LogWriter } from '../../src/audit/entries.js';
import { auditPrimitives } from '../../src/audit/key-schedule.js';
import { entryPublishes, verifyKeyInclusion } from '../../src/audit/key-transparency.js';
import { leafHash, verifyConsistency } from '../../src/audit/merkle.js';
import { MerkleTree, MemoryMerkleStore } from '../../src/audit/merkle-tree.js';
import { parseVerifierKey } from '../../src/audit/signed-note.js';
import { AuditStateError, KeyTransparencyError } from '../../src/errors.js';
import { AuditService } from '../../src/proto/gen/audit_pb.js';
import { ResponseCode } from '../../src/proto/gen/service_pb.js';
import { ServerAuditLog } from '../../src/server/audit/audit-log.js';
import { openSqliteStore, startServer, type RunningServer } from '../../src/server/index.js';
import { openReleasedEntries } from '../support/audit-reader.js';
import { rawDevice } from '../support/index.js';

type AuditClient = Client<typeof AuditService>;
const auditClient = (url: string): AuditClient => createClient(AuditService, createConnectTransport({ baseUrl: url, httpVersion: '1.1' }));

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'pqe2ee-audit-'));
  dirs.push(dir);
  return dir;
}

/** Every stored entry, decoded, read page by page. */
async function allEntries(client: AuditClient, size: number) {
  const out = [];
  for (let start = 0; start < size; start += 1000) {
    const page = await client.getEntries({ start: BigInt(start), count: Math.min(1000, size - start) });
    expect(page.code).toBe(ResponseCode.OK);
    out.push(...page.entries);
  }
  return out;
}

function rootOf(entries: Uint8Array[]): Uint8Array {
  const tree = MerkleTree.open(new MemoryMerkleStore());
  for (const entry of entries) tree.append(leafHash(entry));
  return tree.root();
}

async function latestCheckpoint(server: RunningServer, client: AuditClient) {
  const key = parseVerifierKey(server.audit?.logKey ?? '');
  const answer = await client.getCheckpoint({});
  expect(answer.code).toBe(ResponseCode.OK);
  return openCheckpoint(answer.checkpoint, [key], server.audit?.origin ?? '').checkpoint;
}

describe('the server audit log', () => {
  it('hands out bundles with a checkpoint and key inclusions that verify, and only for the keys it logged', async () => {
    const server = await startServer({ port: 0, dbPath: ':memory:', ipRateLimit: { perSecond: 0, burst: 1 } });
    try {
      const alice = await rawDevice(server.url, 'phone');
      const bob = await rawDevice(server.url, 'laptop');
      const answer = await bob.service.getPreKeyBundle({ userId: alice.userId });
      expect(answer.code).toBe(ResponseCode.OK);
      expect(answer.keyInclusions).toHaveLength(answer.preKeyBundles.length);
      const key = parseVerifierKey(server.audit?.logKey ?? '');
      const checkpoint = openCheckpoint(answer.checkpoint, [key], `${server.domain}/audit`).checkpoint;
      const [bundle] = answer.preKeyBundles;
      const [inclusion] = answer.keyInclusions;
      const device = {
        userId: alice.userId,
        deviceId: 'phone',
        suiteId: bundle?.suiteId ?? 0,
        signPublicKey: bundle?.identityKey?.signPublicKey ?? new Uint8Array(),
        kemPublicKey: bundle?.identityKey?.kemPublicKey ?? new Uint8Array(),
      };
      const evidence = { entry: inclusion?.entry ?? new Uint8Array(), index: Number(inclusion?.index), proof: inclusion?.proof ?? [] };
      expect(() => verifyKeyInclusion(device, evidence, checkpoint)).not.toThrow();
      // The same evidence does not vouch for another key (what a lying server would hand out).
      const otherKey = { ...device, kemPublicKey: bob.account.identityPublicKey.kemPublicKey };
      expect(() => verifyKeyInclusion(otherKey, evidence, checkpoint)).toThrow(KeyTransparencyError);
      // Nor for bob's device, nor with one flipped bit in the entry.
      expect(() => verifyKeyInclusion({ ...device, userId: bob.userId, deviceId: 'laptop' }, evidence, checkpoint)).toThrow(KeyTransparencyError);
      const flipped = evidence.entry.slice();
      flipped[flipped.length - 40] = (flipped[flipped.length - 40] as number) ^ 1;
      expect(() => verifyKeyInclusion(device, { ...evidence, entry: flipped }, checkpoint)).toThrow(KeyTransparencyError);
      alice.close();
      bob.close();
    } finally {
      await server.close();
    }
  });

  it('signs at most one checkpoint per interval for a burst of new devices, and every bundle still verifies', async () => {
    const server = await startServer({ port: 0, dbPath: ':memory:', ipRateLimit: { perSecond: 0, burst: 1 }, audit: { checkpointIntervalMs: 2000 } });
    try {
      const asker = await rawDevice(server.url, 'asker');
      const key = parseVerifierKey(server.audit?.logKey ?? '');
      // Staggered: each bundle names a device registered after the previous bundle was asked for,
      // so without coalescing every one of them would need (and get) a signature of its own.
      const fetches = [];
      for (let i = 0; i < 12; i++) {
        fetches.push(
          (async () => {
            const device = await rawDevice(server.url, `d${i}`);
            return { device, answer: await asker.service.getPreKeyBundle({ userId: device.userId }) };
          })(),
        );
        await new Promise((resolve) => setTimeout(resolve, 30));
      }
      const results = await Promise.all(fetches);
      const notes = new Set(results.map((r) => r.answer.checkpoint));
      expect(notes.size).toBeLessThanOrEqual(2);
      for (const [i, { device: raw, answer }] of results.entries()) {
        const checkpoint = openCheckpoint(answer.checkpoint, [key], server.audit?.origin ?? '').checkpoint;
        const bundle = answer.preKeyBundles[0];
        const inclusion = answer.keyInclusions[0];
        const device = {
          userId: raw.userId,
          deviceId: `d${i}`,
          suiteId: bundle?.suiteId ?? 0,
          signPublicKey: bundle?.identityKey?.signPublicKey ?? new Uint8Array(),
          kemPublicKey: bundle?.identityKey?.kemPublicKey ?? new Uint8Array(),
        };
        expect(() =>
          verifyKeyInclusion(device, { entry: inclusion?.entry ?? new Uint8Array(), index: Number(inclusion?.index), proof: inclusion?.proof ?? [] }, checkpoint),
        ).not.toThrow();
        raw.close();
      }
      asker.close();
    } finally {
      await server.close();
    }
  });

  it('answers GetKeyInclusion with the same evidence a bundle carries, for a stored device only', async () => {
    const server = await startServer({ port: 0, dbPath: ':memory:', ipRateLimit: { perSecond: 0, burst: 1 } });
    try {
      const audit = auditClient(server.url);
      const alice = await rawDevice(server.url, 'phone');
      const answer = await audit.getKeyInclusion({ userId: alice.userId, deviceId: 'phone' });
      expect(answer.code).toBe(ResponseCode.OK);
      const checkpoint = openCheckpoint(answer.checkpoint, [parseVerifierKey(server.audit?.logKey ?? '')], server.audit?.origin ?? '').checkpoint;
      const identity = alice.account.identityPublicKey;
      const device = { userId: alice.userId, deviceId: 'phone', suiteId: 2, signPublicKey: identity.signPublicKey, kemPublicKey: identity.kemPublicKey };
      const inclusion = answer.keyInclusion;
      const evidence = { entry: inclusion?.entry ?? new Uint8Array(), index: Number(inclusion?.index), proof: inclusion?.proof ?? [] };
      expect(() => verifyKeyInclusion(device, evidence, checkpoint)).not.toThrow();
      expect((await audit.getKeyInclusion({ userId: alice.userId, deviceId: 'tablet' })).code).toBe(ResponseCode.NOT_FOUND);
      expect((await audit.getKeyInclusion({ userId: '', deviceId: 'phone' })).code).toBe(ResponseCode.BAD_REQUEST);
      alice.close();
    } finally {
      await server.close();
    }
  });

  it('records every kind of event, releases keys only to an entitled verifier, and re-checks every MAC', async () => {
    // Interval 1 ms: GetCheckpoint covers everything stored so far (by default it may be 1 s old).
    const server = await startServer({ port: 0, dbPath: ':memory:', ipRateLimit: { perSecond: 0, burst: 1 }, audit: { checkpointIntervalMs: 1 } });
    try {
      const audit = auditClient(server.url);
      const alice = await rawDevice(server.url, 'phone');
      const bob = await rawDevice(server.url, 'laptop');
      await bob.service.getPreKeyBundle({ userId: alice.userId });
      await alice.service.createGroup({ groupName: 'g', members: [{ userId: bob.userId }] });

      // Registration needs the admin token.
      const kem = auditPrimitives.kem.keygen();
      const accessToken = crypto.getRandomValues(new Uint8Array(32));
      const wrong = await audit.registerVerifier({
        adminToken: 'not-the-token',
        verifierId: 'auditor',
        kemPublicKey: kem.publicKey,
        entitlement: AuditCategory.BUNDLE_HANDOUT,
        accessToken,
      });
      expect(wrong.code).toBe(ResponseCode.UNAUTHORIZED);
      const registered = await audit.registerVerifier({
        adminToken: server.audit?.adminToken ?? '',
        verifierId: 'auditor',
        kemPublicKey: kem.publicKey,
        entitlement: AuditCategory.BUNDLE_HANDOUT,
        accessToken,
      });
      expect(registered.code).toBe(ResponseCode.OK);

      const checkpoint = await latestCheckpoint(server, audit);
      const entries = (await allEntries(audit, checkpoint.size)).map((bytes) => decodeEntry(bytes));
      expect(rootOf(await allEntries(audit, checkpoint.size))).toEqual(checkpoint.rootHash);
      const masks = new Set(entries.map((e) => e.categoryMask));
      for (const category of [AuditCategory.KEY_PUBLICATION, AuditCategory.BUNDLE_HANDOUT, AuditCategory.GROUP, AuditCategory.HEARTBEAT]) expect(masks).toContain(category);
      const keyEntries = entries.filter((e) => isPublicEntry(e) && e.categoryMask === AuditCategory.KEY_PUBLICATION);
      expect(keyEntries.map((e) => JSON.parse(new TextDecoder().decode(e.ciphertext)).user).sort()).toEqual([alice.userId, bob.userId].sort());

      const sealed = entries.filter((e) => !isPublicEntry(e));
      const handouts = sealed.filter((e) => e.categoryMask === AuditCategory.BUNDLE_HANDOUT).map((e) => e.index);
      const groups = sealed.filter((e) => e.categoryMask === AuditCategory.GROUP).map((e) => e.index);
      expect(handouts.length).toBeGreaterThan(0);
      // Without the verifier's access token (anyone who knows its id): nothing is derived.
      const guessed = await audit.releaseKeys({ verifierId: 'auditor', indexes: handouts.map(BigInt), accessToken: new Uint8Array(32) });
      expect(guessed.code).toBe(ResponseCode.UNAUTHORIZED);
      expect(guessed.keys).toEqual([]);
      const released = await audit.releaseKeys({ verifierId: 'auditor', indexes: [...handouts, ...groups, ...handouts].map(BigInt), accessToken });
      expect(released.code).toBe(ResponseCode.OK);
      // Each index answered once, however often it is asked for.
      expect(released.keys.map((k) => Number(k.index))).toEqual(handouts);
      expect(released.denied.map(Number)).toEqual(groups);
      // The released key opens the hand-out entry: who asked for whose devices.
      const report = openReleasedEntries(kem.secretKey, server.audit?.origin ?? '', entries, released.keys);
      expect(report.failures).toEqual([]);
      const opened = report.decrypted.find((d) => d.index === handouts[0]);
      expect(JSON.parse(new TextDecoder().decode(opened?.plaintext))).toMatchObject({ type: 'bundle', by: `${bob.userId}/laptop`, of: alice.userId });

      // Only group entries: nothing is released, the answer says so.
      const none = await audit.releaseKeys({ verifierId: 'auditor', indexes: groups.map(BigInt), accessToken });
      expect(none.code).toBe(ResponseCode.FORBIDDEN);
      expect(none.keys).toEqual([]);
      const stranger = await audit.releaseKeys({ verifierId: 'nobody', indexes: handouts.map(BigInt), accessToken });
      expect(stranger.code).toBe(ResponseCode.UNAUTHORIZED);

      const mac = await audit.getMacStatement({});
      expect(mac.code).toBe(ResponseCode.OK);
      expect(mac.statement).toContain(`up-to ${checkpoint.size - 1}`);
      alice.close();
      bob.close();
    } finally {
      await server.close();
    }
  });

  it('answers a fresh nonce with a signed attestation; a replayed one is refused by the verifier', async () => {
    const server = await startServer({ port: 0, dbPath: ':memory:', ipRateLimit: { perSecond: 0, burst: 1 } });
    try {
      const audit = auditClient(server.url);
      const key = parseVerifierKey(server.audit?.logKey ?? '');
      const nonce = crypto.getRandomValues(new Uint8Array(32));
      const answer = await audit.getAttestation({ nonce });
      expect(answer.code).toBe(ResponseCode.OK);
      const statement = verifyAttestation(answer.attestation, { nonce, key });
      const checkpoint = await latestCheckpoint(server, audit);
      expect(statement.checkpoint.size).toBeLessThanOrEqual(checkpoint.size);
      // A man in the middle replaying that answer to the next verifier's nonce is caught.
      const next = crypto.getRandomValues(new Uint8Array(32));
      expect(() => verifyAttestation(answer.attestation, { nonce: next, key })).toThrow(/another nonce/);
      expect((await audit.getAttestation({ nonce: new Uint8Array(4) })).code).toBe(ResponseCode.BAD_REQUEST);
    } finally {
      await server.close();
    }
  });

  it('serves consistency proofs between checkpoints, and refuses sizes beyond the log', async () => {
    const server = await startServer({ port: 0, dbPath: ':memory:', ipRateLimit: { perSecond: 0, burst: 1 }, audit: { checkpointIntervalMs: 1 } });
    try {
      const audit = auditClient(server.url);
      const before = await latestCheckpoint(server, audit);
      const alice = await rawDevice(server.url, 'phone');
      const bob = await rawDevice(server.url, 'laptop');
      await bob.service.getPreKeyBundle({ userId: alice.userId });
      const after = await latestCheckpoint(server, audit);
      expect(after.size).toBeGreaterThan(before.size);
      const proof = await audit.getConsistencyProof({ fromSize: BigInt(before.size), toSize: BigInt(after.size) });
      expect(proof.code).toBe(ResponseCode.OK);
      expect(() => verifyConsistency(before.size, after.size, proof.proof, before.rootHash, after.rootHash)).not.toThrow();
      const beyond = await audit.getConsistencyProof({ fromSize: 1n, toSize: BigInt(after.size + 1000) });
      expect(beyond.code).not.toBe(ResponseCode.OK);
      expect((await audit.getEntries({ start: 0n, count: 5000 })).code).toBe(ResponseCode.BAD_REQUEST);
      alice.close();
      bob.close();
    } finally {
      await server.close();
    }
  });

  it('keeps the writer state (it holds A_j) sealed in the database', async () => {
    const dir = tempDir();
    const dbPath = path.join(dir, 'server.sqlite');
    const server = await startServer({ port: 0, dbPath, ipRateLimit: { perSecond: 0, burst: 1 } });
    const device = await rawDevice(server.url, 'phone');
    device.close();
    await server.close();
    const Database = (await import('better-sqlite3')).default;
    const db = new Database(dbPath, { readonly: true });
    const { state } = db.prepare('SELECT state FROM audit_writer WHERE id = 1').get() as { state: Uint8Array };
    db.close();
    expect(state[0]).toBe(0xa5);
    // The bare state format cannot be read out of it.
    expect(() => LogWriter.restore(new Uint8Array(state))).toThrow();
    // And it opens again with the key file: the log goes on.
    const again = await startServer({ port: 0, dbPath, ipRateLimit: { perSecond: 0, burst: 1 } });
    await again.close();
  });

  it('refuses to start on a database rolled back behind its last checkpoint, or without its TLM key file', async () => {
    const dir = tempDir();
    const dbPath = path.join(dir, 'server.sqlite');
    const options = { port: 0, dbPath, ipRateLimit: { perSecond: 0, burst: 1 } } as const;
    let server = await startServer(options);
    const first = await rawDevice(server.url, 'phone');
    first.close();
    await server.close();
    copyFileSync(dbPath, path.join(dir, 'backup.sqlite'));

    server = await startServer(options);
    const second = await rawDevice(server.url, 'tablet');
    // A bundle makes the TLM sign a checkpoint over everything so far.
    await second.service.getPreKeyBundle({ userId: first.userId });
    second.close();
    await server.close();
    // The log went on from where it was: still one chain.
    server = await startServer(options);
    await server.close();

    copyFileSync(path.join(dir, 'backup.sqlite'), dbPath);
    for (const suffix of ['-wal', '-shm']) if (existsSync(`${dbPath}${suffix}`)) rmSync(`${dbPath}${suffix}`);
    await expect(startServer(options)).rejects.toThrow(AuditStateError);
    await expect(startServer(options)).rejects.toThrow(/rolled back/);

    rmSync(`${dbPath}.tlm.json`);
    await expect(startServer(options)).rejects.toThrow(/key file .* is new/);
    // Still refused: the failed start must not leave a new key file that passes for the log's.
    await expect(startServer(options)).rejects.toThrow(/key file .* is new/);
  });
});

describe('the key entry index', () => {
  it('is repaired when it points at another publication than the stored device (two raced registrations of one device id)', async () => {
    // The race itself (two RegisterUser calls for one new device id, both logged, one stored) is
    // timing-dependent through RPCs, so its outcome is set up directly: the index names the keys
    // of the registration that lost.
    const store = await openSqliteStore(':memory:');
    const log = await ServerAuditLog.open(store.audit as NonNullable<typeof store.audit>, { origin: 'race.test/audit', keyFile: undefined, heartbeatMs: 3_600_000 });
    try {
      const stored = { userId: 'u', deviceId: 'd', suiteId: 2, signPublicKey: new Uint8Array(32).fill(1), kemPublicKey: new Uint8Array(32).fill(2) };
      const lost = { ...stored, signPublicKey: new Uint8Array(32).fill(3) };
      await log.recordKeyPublication(stored);
      const lostIndex = await log.recordKeyPublication(lost);
      expect(await log.keyEntryIndex('u', 'd')).toBe(lostIndex);
      const index = await log.keyEntryFor(stored);
      expect(index).not.toBe(lostIndex);
      const [entry] = await (store.audit as NonNullable<typeof store.audit>).readEntries(index, 1);
      expect(entryPublishes(entry as Uint8Array, stored)).toBe(true);
      // And it stays: the next hand-out finds the right entry without writing another.
      expect(await log.keyEntryFor(stored)).toBe(index);
    } finally {
      await log.close();
      await store.close();
    }
  });
});
