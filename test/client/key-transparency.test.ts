// Key transparency in the client runtime (DESIGN.md §6.1, issue 13 item 5). Alice's client has
// ClientOptions.auditLogKey set and reaches the real in-process server through a proxy that plays
// the server's audit log: a log built here with the pure audit code (LogWriter, MerkleTree,
// CheckpointSigner) that publishes every device it hands out, signs checkpoints, proves inclusion
// and consistency. Each attack edits what that "server" sends; the client must refuse the bundle
// with a KeyTransparencyError and keep no session.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { describe, expect, it, onTestFinished } from 'vitest';
import { type KeyPublicationEvent, keyPublicationEvent, type PublishedDevice } from '../../src/audit/key-transparency.js';
import { decodeEntry } from '../../src/audit/entry-format.js';
import { CheckpointSigner } from '../../src/audit/checkpoint.js';
import { AuditCategory } from '../../src/audit/categories.js';
import { LogWriter } from '../../src/audit/entries.js';
import { MemoryMerkleStore, MerkleTree } from '../../src/audit/merkle-tree.js';
import { formatVerifierKey, type NoteSigner, noteSigner } from '../../src/audit/signed-note.js';
import { getSuite } from '../../src/crypto/suites.js';
import { GetConsistencyProofResponseSchema, type GetKeyInclusionRequest, GetKeyInclusionResponseSchema } from '../../src/proto/gen/audit_pb.js';
import { type GetPreKeyBundleResponse, KeyInclusionSchema, ResponseCode } from '../../src/proto/gen/service_pb.js';
import { type PreKeyBundle, PreKeyBundleSchema } from '../../src/proto/gen/wire_pb.js';
import { openSqliteDatabase } from '../../src/node.js';
import { Account } from '../../src/protocol/index.js';
import {
  createClient,
  createServerTransport,
  type E2eeClient,
  InvalidClientInputError,
  KeyTransparencyError,
  type ProtocolHandler,
  type AuditServiceClient,
} from '../support/library.js';
import { rawDevice, text, useInProcessServer } from '../support/index.js';

const server = useInProcessServer({ heartbeatMs: 500 });
const ORIGIN = 'kt.test/log';
const encoder = new TextEncoder();

/** The log's note key (Ed25519, so tests stay fast); the same seed gives the same key, as a stolen key would. */
function logNoteKey(): NoteSigner {
  const suite = getSuite(2);
  return noteSigner(2, ORIGIN, suite.sig.keygenFromSeed(new Uint8Array(suite.params.sigSeedBytes).fill(7)));
}
const LOG_KEY = formatVerifierKey(logNoteKey());

/**
 * An audit log with key publication entries, as the server keeps one. Each instance has its own
 * checkpoint signer: two instances under one key are a forked log (a signer whose state was lost
 * or whose key was stolen), which is exactly what a split view needs.
 */
class TestLog {
  private readonly writer = LogWriter.create({ logId: encoder.encode(ORIGIN), initialKey: new Uint8Array(32).fill(1) });
  private readonly store = new MemoryMerkleStore();
  readonly tree = MerkleTree.open(this.store);
  private readonly entries: Uint8Array[] = [];
  private readonly published = new Map<string, number>();
  private readonly signer = new CheckpointSigner({ signer: logNoteKey(), origin: ORIGIN });

  /** Index of `device`'s key publication entry, appended if it has none. */
  publish(device: PublishedDevice): number {
    return this.publishEvent(keyPublicationEvent(device));
  }

  /** The same for a key publication event as it stands in some log (e.g. the real server's). */
  publishEvent(event: KeyPublicationEvent): number {
    const key = `${event.user}/${event.device}/${event.sign}`;
    const known = this.published.get(key);
    if (known !== undefined) return known;
    const index = this.append(encoder.encode(JSON.stringify(event)));
    this.published.set(key, index);
    return index;
  }

  /** Appends any public key-publication entry (e.g. filler that makes a fork differ). */
  append(event: Uint8Array): number {
    const result = this.writer.appendPublic(AuditCategory.KEY_PUBLICATION, event, Date.now());
    this.writer.commit();
    this.store.put(this.tree.append(result.leafHash));
    this.entries.push(result.encodedEntry);
    return result.entry.index;
  }

  /** A signed checkpoint of the whole log as it is now. */
  checkpoint(): string {
    return this.signer.sign({ origin: ORIGIN, size: this.tree.size, rootHash: this.tree.root(), extensions: [] }, { tree: this.tree });
  }

  inclusion(index: number) {
    return create(KeyInclusionSchema, { entry: this.entries[index] as Uint8Array, index: BigInt(index), proof: this.tree.inclusionProof(index, this.tree.size) });
  }
}

/** The device a bundle hands out, as the log publishes it. */
function deviceOf(bundle: PreKeyBundle): PublishedDevice {
  if (bundle.address?.peer.case !== 'user' || !bundle.identityKey) throw new Error('bundle without address or identity key');
  const { userId, deviceId } = bundle.address.peer.value;
  return { userId, deviceId, suiteId: bundle.suiteId, signPublicKey: bundle.identityKey.signPublicKey, kemPublicKey: bundle.identityKey.kemPublicKey };
}

/** What the proxy's "server" shows: which log, an optional edit of each bundle response, and counters. */
interface LogView {
  log: TestLog;
  edit?: (response: GetPreKeyBundleResponse, log: TestLog) => void;
  bundleCalls: number;
  proofCalls: number;
}

function view(log: TestLog, edit?: LogView['edit']): LogView {
  return { log, ...(edit ? { edit } : {}), bundleCalls: 0, proofCalls: 0 };
}

/**
 * A protocol handler in front of the real server that adds key transparency from `current.log` to
 * every bundle response (publishing the devices it hands out, as an honest server does), then lets
 * `current.edit` tamper with the response. Its AuditService proves consistency from the same log,
 * and answers GetKeyInclusion (a device met in an invite) by publishing in it what the real server
 * logged for that device.
 */
function logProxy(current: LogView): ProtocolHandler {
  const inner = createServerTransport(server.url);
  const service = new Proxy(inner.service, {
    get(target, prop, receiver) {
      if (prop !== 'getPreKeyBundle') return Reflect.get(target, prop, receiver);
      return async (...args: Parameters<typeof target.getPreKeyBundle>) => {
        current.bundleCalls++;
        const response = await target.getPreKeyBundle(...args);
        const { log } = current;
        const indexes = response.preKeyBundles.map((bundle) => log.publish(deviceOf(bundle)));
        response.checkpoint = log.checkpoint();
        response.keyInclusions = indexes.map((index) => log.inclusion(index));
        current.edit?.(response, log);
        return response;
      };
    },
  });
  const audit = {
    async getConsistencyProof(request: { fromSize: bigint; toSize: bigint }) {
      current.proofCalls++;
      try {
        return create(GetConsistencyProofResponseSchema, { code: ResponseCode.OK, proof: current.log.tree.consistencyProof(Number(request.fromSize), Number(request.toSize)) });
      } catch (error) {
        return create(GetConsistencyProofResponseSchema, { code: ResponseCode.NOT_FOUND, reason: String(error) });
      }
    },
    async getKeyInclusion(request: GetKeyInclusionRequest) {
      const real = await (inner.audit as AuditServiceClient).getKeyInclusion({ userId: request.userId, deviceId: request.deviceId });
      if (real.code !== ResponseCode.OK || !real.keyInclusion) return real;
      const event = JSON.parse(new TextDecoder().decode(decodeEntry(real.keyInclusion.entry).ciphertext)) as KeyPublicationEvent;
      const index = current.log.publishEvent(event);
      return create(GetKeyInclusionResponseSchema, { code: ResponseCode.OK, checkpoint: current.log.checkpoint(), keyInclusion: current.log.inclusion(index) });
    },
  } as unknown as AuditServiceClient;
  return { service, audit, setToken: (token) => inner.setToken(token) };
}

/** A started client with key transparency, through `current`'s proxy. */
function checkingClient(deviceId: string, current: LogView, extra: Parameters<typeof server.start>[1] = {}): Promise<E2eeClient> {
  return server.start(deviceId, { server: logProxy(current), auditLogKey: LOG_KEY, ...extra });
}

/** Alice and Bob each send one message and each receives it (sessions both ways, every bundle checked). */
async function greetBothWays(alice: E2eeClient, bob: E2eeClient): Promise<void> {
  const atBob = bob.waitFor('one2one-message');
  await alice.sendMessage(bob.address.userId, 'hello bob');
  expect(text((await atBob).message.body)).toBe('hello bob');
  const atAlice = alice.waitFor('one2one-message');
  await bob.sendMessage(alice.address.userId, 'hello alice');
  expect(text((await atAlice).message.body)).toBe('hello alice');
}

/** Whether `client` has a session (or any record) with that device. */
async function hasSessionWith(client: E2eeClient, peer: E2eeClient): Promise<boolean> {
  return client.fingerprint(peer.address.userId, peer.address.deviceId).then(
    () => true,
    () => false,
  );
}

/** The bundle the real server hands out for `client`'s device (fetched by a raw device of its own). */
async function realBundleOf(client: E2eeClient): Promise<PreKeyBundle> {
  const fetcher = await rawDevice(server.url, 'fetcher');
  const response = await fetcher.service.getPreKeyBundle({ userId: client.address.userId, deviceId: client.address.deviceId });
  fetcher.close();
  const bundle = response.preKeyBundles[0];
  if (!bundle) throw new Error('no bundle');
  return bundle;
}

/** A bundle of a device the server made up, under `victim`'s address (a machine-in-the-middle key). */
function impostorBundle(victim: PreKeyBundle): PreKeyBundle {
  const impostor = Account.create({ suite: 2, now: Date.now() });
  const bundle = fromBinary(PreKeyBundleSchema, impostor.preKeyBundle());
  if (victim.address) bundle.address = victim.address;
  return bundle;
}

describe('key transparency in the client runtime', () => {
  it('rejects a malformed auditLogKey, and a protocol handler without an audit client', () => {
    expect(() => createClient({ server: server.url, deviceId: 'x', auditLogKey: 'not a key' })).toThrow(InvalidClientInputError);
    const inner = createServerTransport(server.url);
    expect(() => createClient({ server: { service: inner.service, setToken: () => undefined }, deviceId: 'x', auditLogKey: LOG_KEY })).toThrow(InvalidClientInputError);
  });

  it('happy path: two checking clients talk; a grown log is accepted with a consistency proof', async () => {
    const log = new TestLog();
    const aliceView = view(log);
    const bobView = view(log);
    const alice = await checkingClient('alice', aliceView);
    const bob = await checkingClient('bob', bobView);
    await greetBothWays(alice, bob);

    // The log grows (carol's device is published); alice's next bundle comes with a bigger checkpoint.
    const carol = await server.start('carol');
    const proofsBefore = aliceView.proofCalls;
    const atCarol = carol.waitFor('one2one-message');
    await alice.sendMessage(carol.address.userId, 'hello carol');
    expect(text((await atCarol).message.body)).toBe('hello carol');
    expect(aliceView.proofCalls).toBeGreaterThan(proofsBefore);
    expect(await hasSessionWith(alice, carol)).toBe(true);
  }, 60_000);

  it('(a) a bundle whose key is not in the log (a key made up by the server) is refused; no session', async () => {
    const log = new TestLog();
    const bob = await server.start('bob');
    const aliceView = view(log, (response) => {
      response.preKeyBundles = response.preKeyBundles.map(impostorBundle);
    });
    const alice = await checkingClient('alice', aliceView);
    await expect(alice.sendMessage(bob.address.userId, 'for bob only')).rejects.toBeInstanceOf(KeyTransparencyError);
    expect(aliceView.bundleCalls).toBeGreaterThan(0);
    expect(await hasSessionWith(alice, bob)).toBe(false);

    // Without proofs at all (a server keeping no log, or hiding it) the bundle is refused too.
    aliceView.edit = (response) => {
      response.checkpoint = '';
      response.keyInclusions = [];
    };
    await expect(alice.sendMessage(bob.address.userId, 'for bob only')).rejects.toBeInstanceOf(KeyTransparencyError);
    aliceView.edit = (response) => {
      response.keyInclusions = [];
    };
    await expect(alice.sendMessage(bob.address.userId, 'for bob only')).rejects.toBeInstanceOf(KeyTransparencyError);
    expect(await hasSessionWith(alice, bob)).toBe(false);

    // Once the server behaves, the same call works: nothing of the refused responses was kept.
    aliceView.edit = undefined;
    const atBob = bob.waitFor('one2one-message');
    await alice.sendMessage(bob.address.userId, 'now for real');
    expect(text((await atBob).message.body)).toBe('now for real');
  }, 60_000);

  it("(b) another device's logged keys with their valid inclusion proof, under the wanted device's address, are refused", async () => {
    const log = new TestLog();
    const bob = await server.start('bob');
    const mallory = await server.start('mallory');
    // Mallory's device is honestly logged; the server hands out her keys (and her proof) as Bob's.
    const malloryBundle = await realBundleOf(mallory);
    const malloryIndex = log.publish(deviceOf(malloryBundle));
    const aliceView = view(log, (response, current) => {
      response.preKeyBundles = response.preKeyBundles.map((bundle) => {
        const swapped = fromBinary(PreKeyBundleSchema, toBinary(PreKeyBundleSchema, malloryBundle));
        if (bundle.address) swapped.address = bundle.address;
        return swapped;
      });
      response.keyInclusions = response.preKeyBundles.map(() => current.inclusion(malloryIndex));
    });
    const alice = await checkingClient('alice', aliceView);
    const error = await alice.sendMessage(bob.address.userId, 'for bob only').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KeyTransparencyError);
    expect((error as Error).message).toMatch(/other keys/);
    expect(await hasSessionWith(alice, bob)).toBe(false);

    // Bob's real bundle with the inclusion of another entry (Mallory's) is refused as well.
    aliceView.edit = (response, current) => {
      response.keyInclusions = response.preKeyBundles.map(() => current.inclusion(malloryIndex));
    };
    await expect(alice.sendMessage(bob.address.userId, 'for bob only')).rejects.toBeInstanceOf(KeyTransparencyError);
    expect(await hasSessionWith(alice, bob)).toBe(false);
  }, 60_000);

  it('bounds what the server sends: inclusions per bundle, checkpoint note, entry and proof sizes', async () => {
    const bob = await server.start('bob');
    const bobDevice = deviceOf(await realBundleOf(bob));
    const log = new TestLog();
    const aliceView = view(log);
    const alice = await checkingClient('alice', aliceView);
    const refused = async () => {
      await expect(alice.sendMessage(bob.address.userId, 'for bob only')).rejects.toBeInstanceOf(KeyTransparencyError);
      expect(await hasSessionWith(alice, bob)).toBe(false);
    };

    // One inclusion more than there are bundles.
    aliceView.edit = (response) => {
      response.keyInclusions.push(response.keyInclusions[0] as (typeof response.keyInclusions)[number]);
    };
    await refused();
    // A checkpoint note over 16 KiB, still validly signed (signature lines of unknown keys are ignored by notes).
    aliceView.edit = (response) => {
      const filler = `\u2014 other.example/key ${Buffer.alloc(600, 1).toString('base64')}\n`;
      response.checkpoint += filler.repeat(Math.ceil((17 * 1024) / filler.length));
    };
    await refused();
    // A logged key entry over 8 KiB that names bob's keys (padded with a field the check ignores).
    const padded = log.append(encoder.encode(JSON.stringify({ ...keyPublicationEvent(bobDevice), padding: 'x'.repeat(9000) })));
    aliceView.edit = (response, current) => {
      response.checkpoint = current.checkpoint();
      response.keyInclusions = [current.inclusion(padded)];
    };
    await refused();
    // An inclusion proof of 65 hashes.
    aliceView.edit = (response) => {
      const inclusion = response.keyInclusions[0];
      if (inclusion) inclusion.proof = Array.from({ length: 65 }, () => new Uint8Array(32));
    };
    await refused();

    aliceView.edit = undefined;
    await alice.sendMessage(bob.address.userId, 'now for real');
    expect(await hasSessionWith(alice, bob)).toBe(true);
  }, 60_000);

  it('(c) split view: a checkpoint of the same size with another root, or one that does not extend the newest, is refused', async () => {
    const bob = await server.start('bob');
    const carol = await server.start('carol');
    const dave = await server.start('dave');
    const [bobDevice, carolDevice, daveDevice] = [deviceOf(await realBundleOf(bob)), deviceOf(await realBundleOf(carol)), deviceOf(await realBundleOf(dave))];

    // The log alice sees first: bob, carol (size 2).
    const honest = new TestLog();
    honest.publish(bobDevice);
    honest.publish(carolDevice);
    const aliceView = view(honest);
    const alice = await checkingClient('alice', aliceView);
    await alice.sendMessage(bob.address.userId, 'hi bob');
    expect(await hasSessionWith(alice, bob)).toBe(true);

    // Same size, another root: carol, bob (the log another client might be shown).
    const sameSizeFork = new TestLog();
    sameSizeFork.publish(carolDevice);
    sameSizeFork.publish(bobDevice);
    aliceView.log = sameSizeFork;
    const error = await alice.sendMessage(carol.address.userId, 'hi carol').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KeyTransparencyError);
    expect((error as Error).message).toMatch(/split view/);
    expect(await hasSessionWith(alice, carol)).toBe(false);

    // A bigger log that does not extend the one alice saw: a filler entry first, then bob, carol, dave.
    const growingFork = new TestLog();
    growingFork.append(encoder.encode('{"type":"filler"}'));
    growingFork.publish(bobDevice);
    growingFork.publish(carolDevice);
    growingFork.publish(daveDevice);
    aliceView.log = growingFork;
    const proofsBefore = aliceView.proofCalls;
    await expect(alice.sendMessage(dave.address.userId, 'hi dave')).rejects.toBeInstanceOf(KeyTransparencyError);
    expect(aliceView.proofCalls).toBeGreaterThan(proofsBefore);
    expect(await hasSessionWith(alice, dave)).toBe(false);

    // The honest log, grown, is still accepted: the forks did not replace the newest checkpoint.
    honest.publish(daveDevice);
    aliceView.log = honest;
    await alice.sendMessage(dave.address.userId, 'hi dave');
    expect(await hasSessionWith(alice, dave)).toBe(true);
  }, 60_000);

  it('(e) a restarted client keeps its newest checkpoint and refuses an older fork', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'pqe2ee-kt-'));
    onTestFinished(() => rmSync(directory, { recursive: true, force: true }));
    const path = join(directory, 'alice.db');
    const bob = await server.start('bob');
    const carol = await server.start('carol');
    const bobDevice = deviceOf(await realBundleOf(bob));
    const carolDevice = deviceOf(await realBundleOf(carol));

    const honest = new TestLog();
    honest.publish(bobDevice);
    honest.publish(carolDevice);
    const honestView = view(honest);
    const storage = { key: new Uint8Array(32).fill(9) };
    const first = await checkingClient('alice', honestView, { database: await openSqliteDatabase(path), storage });
    await first.sendMessage(bob.address.userId, 'hi bob');
    expect(honestView.bundleCalls).toBe(1);
    await first.stop();

    // After the restart the server shows an older log that is not a prefix of the one seen before
    // (carol only). A client that forgot its checkpoint would take it on first use.
    const olderFork = new TestLog();
    olderFork.publish(carolDevice);
    const forkView = view(olderFork);
    const again = await checkingClient('alice', forkView, { database: await openSqliteDatabase(path), storage });
    expect(again.address).toEqual(first.address);
    await expect(again.sendMessage(carol.address.userId, 'hi carol')).rejects.toBeInstanceOf(KeyTransparencyError);
    expect(forkView.bundleCalls).toBe(1);
    expect(await hasSessionWith(again, carol)).toBe(false);

    // The log it knows, grown, is still accepted after the restart (with a consistency proof).
    honest.append(encoder.encode('{"type":"filler"}'));
    forkView.log = honest;
    const proofsBefore = forkView.proofCalls;
    await again.sendMessage(carol.address.userId, 'hi carol');
    expect(forkView.proofCalls).toBe(proofsBefore + 1);
    expect(await hasSessionWith(again, carol)).toBe(true);
  }, 60_000);
});

describe('key transparency off', () => {
  it('without auditLogKey the made-up key of (a) is used: the check is what refuses it', async () => {
    const log = new TestLog();
    const bob = await server.start('bob');
    const aliceView = view(log, (response) => {
      response.preKeyBundles = response.preKeyBundles.map(impostorBundle);
    });
    const alice = await server.start('alice', { server: logProxy(aliceView) });
    await alice.sendMessage(bob.address.userId, 'for bob only');
    expect(await hasSessionWith(alice, bob)).toBe(true);
  }, 60_000);
});

/**
 * A protocol handler in front of the real server (which keeps its own audit log) that lets `edit`
 * change each bundle response; consistency proofs come from the server's AuditService unchanged.
 */
function editingProxy(edit: (response: GetPreKeyBundleResponse) => void): ProtocolHandler & { proofCalls: () => number } {
  const inner = createServerTransport(server.url);
  let proofCalls = 0;
  const service = new Proxy(inner.service, {
    get(target, prop, receiver) {
      if (prop !== 'getPreKeyBundle') return Reflect.get(target, prop, receiver);
      return async (...args: Parameters<typeof target.getPreKeyBundle>) => {
        const response = await target.getPreKeyBundle(...args);
        edit(response);
        return response;
      };
    },
  });
  const innerAudit = inner.audit as AuditServiceClient;
  const audit = new Proxy(innerAudit, {
    get(target, prop, receiver) {
      if (prop === 'getConsistencyProof') proofCalls++;
      return Reflect.get(target, prop, receiver);
    },
  });
  return { service, audit, setToken: (token) => inner.setToken(token), proofCalls: () => proofCalls };
}

describe("key transparency against the reference server's own audit log", () => {
  const logKey = () => {
    const key = server.audit?.logKey;
    if (!key) throw new Error('the in-process server keeps no audit log');
    return key;
  };

  it('(d) happy path: checking clients, a linked device and a grown log, all through the real log', async () => {
    const proxy = editingProxy(() => undefined);
    const alice = await server.start('alice', { server: proxy, auditLogKey: logKey() });
    const bob = await server.start('bob', { auditLogKey: logKey() });
    await greetBothWays(alice, bob);

    // Bob links a second device (its registration checks the bundles of bob's own devices).
    const bobPhone = await server.link(bob, 'phone', { auditLogKey: logKey() });
    // New users grow the log; alice's next bundle needs a consistency proof from the real log.
    const carol = await server.start('carol');
    const atCarol = carol.waitFor('one2one-message');
    const proofsBefore = proxy.proofCalls();
    await alice.sendMessage(carol.address.userId, 'hello carol');
    expect(text((await atCarol).message.body)).toBe('hello carol');
    expect(proxy.proofCalls()).toBeGreaterThan(proofsBefore);
    const atPhone = bobPhone.waitFor('one2one-message');
    await alice.sendMessage(bob.address.userId, 'to both of bob');
    expect(text((await atPhone).message.body)).toBe('to both of bob');
  }, 60_000);

  it('(a) the real response with a made-up key in place of the logged one is refused; no session', async () => {
    const bob = await server.start('bob');
    const alice = await server.start('alice', {
      server: editingProxy((response) => {
        response.preKeyBundles = response.preKeyBundles.map(impostorBundle);
      }),
      auditLogKey: logKey(),
    });
    await expect(alice.sendMessage(bob.address.userId, 'for bob only')).rejects.toBeInstanceOf(KeyTransparencyError);
    expect(await hasSessionWith(alice, bob)).toBe(false);
  }, 60_000);

  it('(b) the real inclusions of two devices swapped are refused; no session with either', async () => {
    const bob = await server.start('bob');
    const bobPhone = await server.link(bob, 'phone');
    let swapped = 0;
    const alice = await server.start('alice', {
      server: editingProxy((response) => {
        if (response.keyInclusions.length === 2) {
          response.keyInclusions.reverse();
          swapped++;
        }
      }),
      auditLogKey: logKey(),
    });
    await expect(alice.sendMessage(bob.address.userId, 'for bob only')).rejects.toBeInstanceOf(KeyTransparencyError);
    expect(swapped).toBe(1);
    expect(await hasSessionWith(alice, bob)).toBe(false);
    expect(await hasSessionWith(alice, bobPhone)).toBe(false);
  }, 60_000);

  it('in the background (a new device announced), a refused bundle is an error event and no session', async () => {
    const bob = await server.start('bob');
    const alice = await server.start('alice', {
      server: editingProxy((response) => {
        response.preKeyBundles = response.preKeyBundles.map((bundle) =>
          bundle.address?.peer.case === 'user' && bundle.address.peer.value.deviceId === 'phone' ? impostorBundle(bundle) : bundle,
        );
      }),
      auditLogKey: logKey(),
    });
    const atBob = bob.waitFor('one2one-message');
    await alice.sendMessage(bob.address.userId, 'hello bob');
    await atBob;
    const refused = alice.waitFor('error', (event) => event.error.code === 'ERR_KEY_TRANSPARENCY', 20_000);
    const bobPhone = await server.link(bob, 'phone');
    await refused;
    expect(await hasSessionWith(alice, bobPhone)).toBe(false);
    expect(await hasSessionWith(alice, bob)).toBe(true);
  }, 60_000);
});
