// Security issue 11: a fuzz/property test of the client runtime against a malicious server and a
// malicious group member.
//
// Cast: honest users Alice (a1), Bob (b1), Carol (c1, c2: two linked devices) and Eve (e1, an
// outsider until she is added to the group), all real clients; Mallory (m1), a group member and
// manager driven by the test through the protocol layer and raw RPCs (test/support/
// malicious-member.ts), who colludes with the server: she gets a copy of every message an honest
// device sends. The server is the reference server behind a rewriting protocol handler on every
// honest client (test/support/adversary.ts): it passes, duplicates, stalls, delays, reorders and
// withholds what each stream delivers and injects forged copies (rewritten routing, swapped
// payloads, replays, other devices' messages). A seeded PRNG picks every choice of the adversary
// and of the workload.
//
// Workload: one-to-one messages in all directions, a group {Alice, Bob, Carol, Mallory}, Mallory's
// own membership change (she adds Eve, with a bundle of her making: see VARIANTS), Alice removing
// Mallory, group messages throughout; Mallory meanwhile tries invites
// reusing other sessions' ids, group messages naming other senders, undecodable plaintexts,
// bundles for epochs nobody ordered, replays. Then the adversary stops, every stream is restarted
// (the server replays what it withheld), and a final round of messages is sent.
//
// Invariants (each its own test below, over one run per seed):
//   I1 confidentiality: a body reaches only devices of its conversation (a group body only users
//      who were members of the epoch it was sent in); Mallory never decrypts anything else.
//   I2 attribution: every delivered message names the device that sent it, in the conversation it
//      was sent to (no body nobody sent, no one-to-one shown as group or the reverse).
//   I3 no duplicates: no device gets one body twice.
//   I4 convergence: after the adversary stops, every honest member device gets the final round
//      from every other, and all of them hold the server's final epoch with its member list.
//   I5 no loss: every message of an honest conversation reaches every honest device of it once
//      the withheld messages are replayed (the adversary here delays, it never deletes).
//   I6 membership: whenever an honest device holds an epoch, its member list is the one the server
//      ordered for that epoch.
//   H  the run itself: no exception in the harness, no runtime failure event.
// 'error' events are fine: they are the client refusing an attack. Each failure names the
// invariant, the device, the seed, and the adversary's and Mallory's last actions before it.
//
// The adversary delays but never deletes (see test/support/adversary.ts): without that no group
// could be required to converge. For the same reason Alice waits (a few seconds at most) for
// Mallory's epoch to reach everyone before removing her: a change made while an earlier epoch's
// bundle is still on its way skips that epoch for good, by design.
//
// Seeds: the fixed DEFAULT_SCENARIOS, or FUZZ_SEED=<n | 0x..> [FUZZ_RUNS=<k> seeds from it]
// [FUZZ_SUITE=1|2] [FUZZ_VARIANT=<one of VARIANTS>, else picked by the seed] [FUZZ_STEPS=<n>].
// FUZZ_TRACE=all (or devices/actors: "eve/e1,mallory,server,workload") prints a run's timeline.
// A run is reproducible up to timing: the choices come from the seed, the interleaving of
// concurrent streams does not.
import { beforeAll, describe, expect, it } from 'vitest';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { Account, createClient, GroupSession, type ClientEvent, type E2eeClient, type GroupMemberInfo } from '../support/library.js';
import { GroupRole, ProtoMsgSchema } from '../../src/proto/gen/service_pb.js';
import { E2eeAddressSchema, E2eeMsgSchema, PeerUserSchema, type E2eeAddress, type E2eeMsg } from '../../src/proto/gen/wire_pb.js';
import { addressName, AdversarialServer, hexSeed, type InProcessServer, MaliciousMember, Prng, seedsFromEnv, useInProcessServer } from '../support/index.js';

/**
 * The bundle Mallory makes for the epoch she orders (adding Eve):
 * - honest-bundle: the server's member list with the right keys;
 * - ghost-device: plus a device "bob/tablet" under a key she holds;
 * - swap-device: a member device left out and "bob/tablet" in its place (same count);
 * - rekey-new-member: Eve, new to the group (no key to stay continuous with), under a key she holds;
 * - omit-member: a member device left out;
 * - held-garbage: honest, but ahead of it an undecodable and a genuine message, so receivers hold them.
 */
const VARIANTS = ['honest-bundle', 'ghost-device', 'swap-device', 'rekey-new-member', 'omit-member', 'held-garbage'] as const;
type Variant = (typeof VARIANTS)[number];
const DISHONEST_VARIANTS: readonly Variant[] = ['ghost-device', 'swap-device', 'rekey-new-member', 'omit-member'];

interface Scenario {
  seed: number;
  suite: 1 | 2;
  steps: number;
  variant: Variant;
}

const DEFAULT_SCENARIOS: Scenario[] = [
  { seed: 0x5eed0001, suite: 2, steps: 30, variant: 'ghost-device' },
  { seed: 0x5eed0002, suite: 2, steps: 30, variant: 'omit-member' },
  { seed: 0x5eed0003, suite: 2, steps: 30, variant: 'held-garbage' },
  { seed: 0x5eed0005, suite: 2, steps: 30, variant: 'swap-device' },
  { seed: 0x5eed0006, suite: 2, steps: 30, variant: 'rekey-new-member' },
  { seed: 0x5eed0004, suite: 1, steps: 14, variant: 'honest-bundle' },
];

function scenariosFromEnv(): Scenario[] {
  if (!process.env.FUZZ_SEED && !process.env.FUZZ_RUNS) return DEFAULT_SCENARIOS;
  const suite = process.env.FUZZ_SUITE === '1' ? 1 : 2;
  const steps = Number.parseInt(process.env.FUZZ_STEPS ?? '', 10) || (suite === 1 ? 14 : 30);
  const fixed = process.env.FUZZ_VARIANT as Variant | undefined;
  if (fixed && !VARIANTS.includes(fixed)) throw new Error(`FUZZ_VARIANT must be one of ${VARIANTS.join(', ')}`);
  return seedsFromEnv([DEFAULT_SCENARIOS[0]?.seed ?? 1]).map((seed) => ({ seed, suite, steps, variant: fixed ?? new Prng(seed).fork('variant').pick(VARIANTS) }));
}

type Inv = 'I1' | 'I2' | 'I3' | 'I4' | 'I5' | 'I6' | 'H';
const INVARIANTS: Array<[Inv, string]> = [
  ['I1', 'confidentiality: no body reaches a device outside its conversation (or Mallory outside hers)'],
  ['I2', 'attribution: every delivered message names the device that sent it, in its own conversation'],
  ['I3', 'no device receives one body twice'],
  ['I4', 'convergence: after the adversary stops, honest members get the final round and agree on the group'],
  ['I5', 'no loss: every honest conversation message reaches every honest device of it once replayed'],
  ['I6', 'membership: an honest device at epoch e holds the member list the server ordered for e'],
  ['H', 'the run: no harness exception, no runtime failure event'],
];

interface Violation {
  inv: Inv;
  device: string;
  at: number;
  text: string;
}

interface Sent {
  body: string;
  kind: 'dm' | 'group';
  sender: string;
  senderUser: string;
  toUser?: string;
  /** Group: the sender's epoch just before and just after sending. */
  epochs?: [bigint, bigint];
  /** Group: whether every honest member of the epoch should get it (false for Mallory's forgeries). */
  expectable: boolean;
  /** One-to-one: the devices that should get it. */
  expected: Set<string>;
  phase: 'setup' | 'fuzz' | 'final';
  at: number;
}

interface Delivery {
  device: string;
  type: 'one2one-message' | 'other-device-message' | 'group-message';
  body: string;
  from: string;
  groupId: string;
  conversationUserId: string;
  at: number;
  source: 'event' | 'stored';
}

interface Honest {
  name: string;
  user: string;
  client: E2eeClient;
}

const HONEST: Array<{ name: string; user: string; deviceId: string }> = [
  { name: 'alice/a1', user: 'alice', deviceId: 'a1' },
  { name: 'bob/b1', user: 'bob', deviceId: 'b1' },
  { name: 'carol/c1', user: 'carol', deviceId: 'c1' },
  { name: 'carol/c2', user: 'carol', deviceId: 'c2' },
  { name: 'eve/e1', user: 'eve', deviceId: 'e1' },
];
const MALLORY = 'mallory/m1';
const GHOST_DEVICE = 'tablet';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const text = (b: Uint8Array): string => new TextDecoder().decode(b);
const errorCode = (e: unknown): string => (e as { code?: string })?.code ?? (e as Error)?.name ?? 'error';
const errorText = (e: unknown): string => (e instanceof Error ? `${errorCode(e)}: ${e.message}` : String(e));

class Run {
  readonly prng: Prng;
  readonly adversary: AdversarialServer;
  readonly mallory: MaliciousMember;
  readonly honest = new Map<string, Honest>();
  readonly userIds = new Map<string, string>(); // user name → user id
  readonly userNames = new Map<string, string>(); // user id → user name
  readonly sent = new Map<string, Sent>();
  readonly deliveries: Delivery[] = [];
  readonly errors: Array<{ device: string; at: number; context: string; text: string }> = [];
  readonly views: Array<{ device: string; at: number; epoch: bigint; members: string[] }> = [];
  /** Epoch → member device names, as the server ordered them. */
  readonly serverEpochs = new Map<bigint, string[]>();
  /** Epochs whose bundle Mallory made dishonestly (their messages from her are not expected anywhere). */
  readonly dishonestEpochs = new Set<bigint>();
  readonly tapped: Array<{ from: string; to: string; sessionId: string }> = [];
  readonly harness: string[] = [];
  readonly notes: string[] = [];
  readonly phaseMs: string[] = [];
  groupId = '';
  groupAddress: E2eeAddress | undefined;
  private seq = 0;
  /** A key Mallory slipped into her epoch under another user's device name. */
  private ghost: { account: Account; userId: string; deviceId: string; name: string; session?: GroupSession } | undefined;
  private malloryWires: Uint8Array[] = [];
  private removed = false;

  constructor(
    readonly server: InProcessServer,
    readonly sc: Scenario,
  ) {
    this.prng = new Prng(sc.seed).fork('workload');
    this.adversary = new AdversarialServer(sc.seed, {
      onSent: (device, msg) => this.onSent(device, msg),
      onGroupOrder: (_device, _group, epoch, devices) => this.recordOrder(epoch, devices),
    });
    this.mallory = new MaliciousMember(server.url, 'm1', sc.suite);
  }

  // ---- names ----

  nameOf(userId: string, deviceId: string): string {
    return `${this.userNames.get(userId) ?? userId.slice(0, 6)}/${deviceId}`;
  }

  private addressName(a: E2eeAddress | undefined): string {
    return a?.peer.case === 'user' ? this.nameOf(a.peer.value.userId, a.peer.value.deviceId) : addressName(a, this.adversary.names);
  }

  private address(userId: string, deviceId: string): E2eeAddress {
    return create(E2eeAddressSchema, { domain: this.server.domain, peer: { case: 'user', value: create(PeerUserSchema, { userId, deviceId }) } });
  }

  private log(actor: string, action: string): void {
    this.adversary.log(actor, action);
  }

  private recordOrder(epoch: bigint, devices: E2eeAddress[]): void {
    this.serverEpochs.set(epoch, devices.map((d) => this.addressName(d)).sort());
    this.log('server', `ordered epoch ${epoch}: ${this.serverEpochs.get(epoch)?.join(', ')}`);
  }

  private onSent(device: string, msg: E2eeMsg): void {
    this.mallory.tap(msg);
    if (msg.payload.case === 'one2oneMsg' && msg.to?.peer.case === 'user') {
      const to = this.addressName(msg.to);
      if (to !== MALLORY && !this.tapped.some((t) => t.sessionId === msg.sessionId)) this.tapped.push({ from: device, to, sessionId: msg.sessionId });
    }
  }

  private onEvent(device: string, e: ClientEvent): void {
    if (e.type === 'one2one-message' || e.type === 'other-device-message' || e.type === 'group-message') {
      this.deliveries.push({
        device,
        type: e.type,
        body: text(e.message.body),
        from: this.nameOf(e.message.from.userId, e.message.from.deviceId),
        groupId: e.type === 'group-message' ? e.groupId : '',
        conversationUserId: e.type === 'other-device-message' ? e.conversationUserId : '',
        at: Date.now(),
        source: 'event',
      });
    } else if (e.type === 'error') {
      this.errors.push({ device, at: Date.now(), context: e.context, text: errorText(e.error) });
    }
  }

  private body(sender: string, conv: string): string {
    return `fz ${hexSeed(this.sc.seed)} #${this.seq++} ${sender}>${conv}`;
  }

  private honestDevicesOf(user: string): string[] {
    return HONEST.filter((h) => h.user === user).map((h) => h.name);
  }

  // ---- setup ----

  async setup(): Promise<void> {
    const { server, sc } = this;
    await this.mallory.start();
    this.userIds.set('mallory', this.mallory.userId);
    this.userNames.set(this.mallory.userId, 'mallory');
    this.adversary.knowDevice(this.mallory.address, MALLORY);
    const startDevice = async (h: (typeof HONEST)[number]): Promise<void> => {
      const options = {
        server: this.adversary.handlerFor(h.name, server.url),
        deviceId: h.deviceId,
        suite: sc.suite,
        events: { handle: (e: ClientEvent) => this.onEvent(h.name, e) },
      };
      const owner = h.deviceId === 'c2' ? this.honest.get('carol/c1')?.client : undefined;
      const client = await server.started(createClient(owner ? { ...options, linkDevice: (request) => owner.approveDevice(request) } : options));
      this.honest.set(h.name, { name: h.name, user: h.user, client });
      this.userIds.set(h.user, client.address.userId);
      this.userNames.set(client.address.userId, h.user);
      this.adversary.knowDevice(this.address(client.address.userId, client.address.deviceId), h.name);
    };
    // Carol's second device is linked by her first.
    await Promise.all(HONEST.filter((h) => h.deviceId !== 'c2').map(startDevice));
    await startDevice(HONEST.find((h) => h.deviceId === 'c2') as (typeof HONEST)[number]);
    // A device that does not exist, for forged routing.
    this.adversary.knowDevice(this.address(this.userIds.get('bob') as string, GHOST_DEVICE), `bob/${GHOST_DEVICE}`);

    // Everyone meets everyone (trust on first use happens here, with the adversary passive).
    await Promise.all(
      HONEST.map(async (h) => {
        for (const user of ['alice', 'bob', 'carol', 'eve', 'mallory']) if (user !== h.user) await this.honestDm(h.name, user, 'setup');
      }),
    );
    const malloryKnowsAll = await this.until(() => HONEST.every((h) => this.mallory.sessionWith(this.userIds.get(h.user) as string, h.deviceId) !== undefined), 20_000);
    if (!malloryKnowsAll) this.harness.push('setup: Mallory did not get a session with every honest device');
    for (const user of ['alice', 'bob', 'carol', 'eve']) await this.malloryDm(user, 'setup');
    await this.settle(20_000);

    // The group: Alice creates it with Bob, Carol and Mallory (a manager).
    const { groupId } = await this.device('alice/a1').client.createGroup(
      'fuzz',
      ['bob', 'carol', 'mallory'].map((u) => this.userIds.get(u) as string),
      {
        managers: [this.mallory.userId],
      },
    );
    this.groupId = groupId;
    this.groupAddress = create(E2eeAddressSchema, { domain: server.domain, peer: { case: 'group', value: { groupId } } });
    const joined = await this.until(async () => {
      if (!this.mallory.groups.has(groupId)) return false;
      for (const name of ['bob/b1', 'carol/c1', 'carol/c2']) if (!(await this.view(name, false))) return false;
      return true;
    }, 20_000);
    if (!joined) this.harness.push('setup: not every member joined the group');
  }

  device(name: string): Honest {
    const d = this.honest.get(name);
    if (!d) throw new Error(`no device ${name}`);
    return d;
  }

  /** Polls until `check` holds or `ms` pass. */
  async until(check: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      if (await check()) return true;
      await sleep(50);
    }
    return check();
  }

  /** Whether nothing arrived on (or was released to) any honest stream for `ms`. */
  quiet(ms: number): boolean {
    return Date.now() - this.adversary.lastActivity > ms;
  }

  /** Waits until every expected delivery happened, or nothing moved on any stream for a while. */
  async settle(maxMs: number): Promise<boolean> {
    const start = Date.now();
    while (Date.now() - start < maxMs) {
      if (this.missing().length === 0) return true;
      if (Date.now() - start > 2000 && this.quiet(2500)) return false;
      await sleep(100);
    }
    return this.missing().length === 0;
  }

  /** The group as a device holds it (recorded for I6); undefined when it is not in the group. */
  async view(name: string, record = true): Promise<{ epoch: bigint; members: string[] } | undefined> {
    try {
      const info = await this.device(name).client.groupInfo(this.groupId);
      const v = { epoch: info.epoch, members: info.members.map((m) => this.nameOf(m.userId, m.deviceId)).sort() };
      if (record) this.views.push({ device: name, at: Date.now(), ...v });
      return v;
    } catch {
      return undefined;
    }
  }

  // ---- the workload ----

  async honestDm(from: string, toUser: string, phase: Sent['phase']): Promise<void> {
    const d = this.device(from);
    const body = this.body(from, `dm:${toUser}`);
    const expected = new Set([...this.honestDevicesOf(toUser), ...this.honestDevicesOf(d.user).filter((n) => n !== from)]);
    const sent: Sent = { body, kind: 'dm', sender: from, senderUser: d.user, toUser, expectable: true, expected, phase, at: Date.now() };
    this.sent.set(body, sent);
    this.log('workload', `${from} sends dm to ${toUser}: "${body}"`);
    try {
      await d.client.sendMessage(this.userIds.get(toUser) as string, body);
    } catch (error) {
      sent.expected = new Set();
      this.notes.push(`${from} could not send to ${toUser}: ${errorText(error)}`);
    }
  }

  async honestGroup(from: string, phase: Sent['phase']): Promise<void> {
    const d = this.device(from);
    const before = await this.view(from);
    if (!before) return;
    const body = this.body(from, 'group');
    const sent: Sent = {
      body,
      kind: 'group',
      sender: from,
      senderUser: d.user,
      epochs: [before.epoch, before.epoch],
      expectable: true,
      expected: new Set(),
      phase,
      at: Date.now(),
    };
    this.sent.set(body, sent);
    this.log('workload', `${from} sends to the group at epoch ${before.epoch}: "${body}"`);
    try {
      await d.client.sendGroupMessage(this.groupId, body);
    } catch (error) {
      sent.expectable = false;
      this.notes.push(`${from} could not send to the group: ${errorText(error)}`);
    }
    const after = await this.view(from);
    if (after) sent.epochs = [before.epoch, after.epoch];
  }

  async malloryDm(toUser: string, phase: Sent['phase']): Promise<void> {
    const body = this.body(MALLORY, `dm:${toUser}`);
    const sent: Sent = { body, kind: 'dm', sender: MALLORY, senderUser: 'mallory', toUser, expectable: true, expected: new Set(), phase, at: Date.now() };
    this.sent.set(body, sent);
    const devices = await this.mallory.serial(() => this.mallory.sendMessage(this.userIds.get(toUser) as string, body));
    sent.expected = new Set(devices.map((deviceId) => `${toUser}/${deviceId}`));
    this.log('mallory', `dm to ${toUser} (${devices.join(', ')}): "${body}"`);
  }

  /** A group message from Mallory's own session (`expectable` when her epoch's bundle was honest). */
  async malloryGroup(phase: Sent['phase'], plaintext?: Uint8Array): Promise<void> {
    await this.mallory.serial(async () => {
      const group = this.mallory.groups.get(this.groupId);
      if (!group) return;
      const epoch = group.epoch;
      const body = this.body(MALLORY, 'group');
      const bytes = plaintext ?? MaliciousMember.appPlaintext(body);
      if (!plaintext) {
        this.sent.set(body, {
          body,
          kind: 'group',
          sender: MALLORY,
          senderUser: 'mallory',
          epochs: [epoch, epoch],
          expectable: !this.removed && !this.dishonestEpochs.has(epoch),
          expected: new Set(),
          phase,
          at: Date.now(),
        });
      }
      const wire = group.encrypt(bytes);
      this.malloryWires.push(wire);
      await this.malloryGroupWire(wire, plaintext ? `garbage group message at epoch ${epoch}` : `group message at epoch ${epoch}: "${body}"`);
    });
  }

  /** Sends a group wire as Mallory; after her removal the colluding server delivers it itself. */
  private async malloryGroupWire(wire: Uint8Array, what: string): Promise<void> {
    if (!this.removed && (await this.mallory.sendGroupWire(wire))) {
      this.log('mallory', what);
      return;
    }
    const msg = fromBinary(E2eeMsgSchema, wire);
    msg.from = this.mallory.address;
    for (const h of HONEST) {
      const d = this.device(h.name).client.address;
      this.adversary.inject(
        h.name,
        create(ProtoMsgSchema, {
          id: '0',
          from: this.mallory.address,
          to: this.address(d.userId, d.deviceId),
          timestamp: BigInt(Date.now()),
          payload: { case: 'e2eeMsg', value: msg },
        }),
      );
    }
    this.log('mallory', `${what} (injected by the server)`);
  }

  /** Mallory, a manager, orders epoch e (adding Eve) and distributes a bundle of her making. */
  async malloryChange(): Promise<void> {
    const variant = this.sc.variant;
    await this.mallory.serial(async () => {
      const group = this.mallory.groups.get(this.groupId);
      if (!group) {
        this.harness.push('Mallory has no group session for her change');
        return;
      }
      const res = await this.mallory.service.addGroupMembers({
        groupAddress: this.groupAddress,
        expectedEpoch: group.epoch,
        members: [{ userId: this.userIds.get('eve') as string, role: GroupRole.MEMBER }],
      });
      if (res.code < 200 || res.code >= 300) {
        this.harness.push(`Mallory's AddGroupMembers failed: ${res.code} ${res.reason}`);
        return;
      }
      this.recordOrder(res.epoch, res.memberDevices);
      const members: GroupMemberInfo[] = [];
      for (const a of res.memberDevices) {
        if (a.peer.case !== 'user') continue;
        const { userId, deviceId } = a.peer.value;
        const signPublicKey = userId === this.mallory.userId ? this.mallory.account.identityPublicKey.signPublicKey : this.mallory.signKeyOf(userId, deviceId);
        if (!signPublicKey) this.harness.push(`Mallory does not know the key of ${this.nameOf(userId, deviceId)}`);
        else members.push({ userId, deviceId, signPublicKey });
      }
      let listed = members;
      let omitted: string | undefined;
      if (variant === 'omit-member' || variant === 'swap-device') {
        omitted = this.prng.pick(['alice/a1', 'bob/b1', 'carol/c1', 'carol/c2']);
        listed = listed.filter((m) => this.nameOf(m.userId, m.deviceId) !== omitted);
      }
      if (variant === 'ghost-device' || variant === 'swap-device') {
        const account = Account.create({ suite: this.sc.suite, now: Date.now() });
        this.ghost = { account, userId: this.userIds.get('bob') as string, deviceId: GHOST_DEVICE, name: `bob/${GHOST_DEVICE}` };
        listed = [...listed, { userId: this.ghost.userId, deviceId: GHOST_DEVICE, signPublicKey: account.identityPublicKey.signPublicKey }];
      } else if (variant === 'rekey-new-member') {
        const account = Account.create({ suite: this.sc.suite, now: Date.now() });
        this.ghost = { account, userId: this.userIds.get('eve') as string, deviceId: 'e1', name: 'eve/e1' };
        listed = listed.map((m) => (this.nameOf(m.userId, m.deviceId) === 'eve/e1' ? { ...m, signPublicKey: account.identityPublicKey.signPublicKey } : m));
      }
      if (DISHONEST_VARIANTS.includes(variant)) this.dishonestEpochs.add(res.epoch);
      const { bundle, recipients } = this.mallory.makeEpoch(this.groupId, res.epoch, listed);
      this.log(
        'mallory',
        `ordered epoch ${res.epoch} (adds eve), bundle variant ${variant}${omitted ? ` leaving out ${omitted}` : ''}: ${listed.map((m) => this.nameOf(m.userId, m.deviceId)).join(', ')}`,
      );
      if (variant === 'held-garbage') {
        // Ahead of the bundle, so receivers hold them: one undecodable, one genuine.
        const g = this.mallory.groups.get(this.groupId) as GroupSession;
        await this.malloryGroupWire(g.encrypt(MaliciousMember.garbagePlaintext(this.prng.int(3))), `garbage group message at epoch ${g.epoch}, ahead of the bundle`);
      }
      if (!DISHONEST_VARIANTS.includes(variant)) await this.malloryGroupInner('fuzz');
      for (const r of recipients) {
        if (this.nameOf(r.userId, r.deviceId) === `bob/${GHOST_DEVICE}`) continue;
        const ok = await this.mallory.sendPlaintextBytes(r.userId, r.deviceId, MaliciousMember.bundlePlaintext(bundle));
        if (!ok) this.harness.push(`Mallory could not send her bundle to ${this.nameOf(r.userId, r.deviceId)}`);
      }
      if (this.ghost) {
        this.ghost.session = GroupSession.join(this.ghost.account, bundle, { userId: this.ghost.userId, deviceId: this.ghost.deviceId, now: Date.now() });
        await this.ghostMessage();
      }
    });
  }

  private async malloryGroupInner(phase: Sent['phase']): Promise<void> {
    const group = this.mallory.groups.get(this.groupId);
    if (!group) return;
    const body = this.body(MALLORY, 'group');
    this.sent.set(body, {
      body,
      kind: 'group',
      sender: MALLORY,
      senderUser: 'mallory',
      epochs: [group.epoch, group.epoch],
      expectable: !this.removed && !this.dishonestEpochs.has(group.epoch),
      expected: new Set(),
      phase,
      at: Date.now(),
    });
    await this.malloryGroupWire(group.encrypt(MaliciousMember.appPlaintext(body)), `group message at epoch ${group.epoch}: "${body}"`);
  }

  /** A message signed by the key Mallory slipped into her epoch under another device's name. */
  private async ghostMessage(): Promise<void> {
    const session = this.ghost?.session;
    if (!session) return;
    const body = this.body(MALLORY, 'group');
    this.sent.set(body, {
      body,
      kind: 'group',
      sender: MALLORY,
      senderUser: 'mallory',
      epochs: [session.epoch, session.epoch],
      expectable: false,
      expected: new Set(),
      phase: 'fuzz',
      at: Date.now(),
    });
    await this.malloryGroupWire(
      session.encrypt(MaliciousMember.appPlaintext(body)),
      `group message signed by the key she listed as ${this.ghost?.name} at epoch ${session.epoch}: "${body}"`,
    );
  }

  /** One of Mallory's tricks, chosen by the PRNG. */
  async malloryAct(): Promise<void> {
    const act = this.prng.weighted([
      ['dm', 3],
      ['group', 3],
      ['hijack', 3],
      ['forged-sender', 2],
      ['garbage-group', 2],
      ['garbage-dm', 2],
      ['ghost', this.ghost ? 3 : 0],
      ['unordered-bundle', 1],
      ['replay', 1],
    ] as const);
    const honestUser = this.prng.pick(['alice', 'bob', 'carol', 'eve']);
    switch (act) {
      case 'dm':
        return this.malloryDm(honestUser, 'fuzz');
      case 'group':
        return this.malloryGroup('fuzz');
      case 'ghost':
        return this.mallory.serial(() => this.ghostMessage());
      case 'hijack': {
        if (this.tapped.length === 0) return;
        const t = this.prng.pick(this.tapped);
        const victim = this.prng.chance(0.5) ? t.from : t.to;
        const h = HONEST.find((x) => x.name === victim);
        if (!h) return;
        const ok = await this.mallory.serial(() => this.mallory.inviteWithSessionId({ userId: this.userIds.get(h.user) as string, deviceId: h.deviceId }, t.sessionId));
        this.log('mallory', `invite to ${victim} reusing session id ${t.sessionId.slice(0, 8)} of ${t.from} -> ${t.to} (${ok ? 'queued' : 'refused by the server'})`);
        // Once the victim has (or has not) taken the invite, it writes to the peer of that session.
        await sleep(400);
        const peer = (victim === t.from ? t.to : t.from).split('/')[0] as string;
        if (peer !== h.user) await this.honestDm(victim, peer, 'fuzz');
        return;
      }
      case 'forged-sender':
        return this.mallory.serial(async () => {
          const group = this.mallory.groups.get(this.groupId);
          if (!group) return;
          const others = group.members.filter((m) => m.userId !== this.mallory.userId);
          if (others.length === 0) return;
          const claimed = this.prng.pick(others);
          const body = this.body(MALLORY, 'group');
          this.sent.set(body, {
            body,
            kind: 'group',
            sender: MALLORY,
            senderUser: 'mallory',
            epochs: [group.epoch, group.epoch],
            expectable: false,
            expected: new Set(),
            phase: 'fuzz',
            at: Date.now(),
          });
          const msg = fromBinary(E2eeMsgSchema, group.encrypt(MaliciousMember.appPlaintext(body)));
          if (msg.payload.case === 'groupMsg') msg.payload.value.memberIndex = group.members.findIndex((m) => m.userId === claimed.userId && m.deviceId === claimed.deviceId);
          await this.malloryGroupWire(toBinary(E2eeMsgSchema, msg), `group message signed by her, naming ${this.nameOf(claimed.userId, claimed.deviceId)} as sender: "${body}"`);
        });
      case 'garbage-group':
        return this.malloryGroup('fuzz', MaliciousMember.garbagePlaintext(this.prng.int(3)));
      case 'garbage-dm': {
        const h = this.prng.pick(HONEST);
        const kind = this.prng.int(3);
        await this.mallory.serial(() => this.mallory.sendPlaintextBytes(this.userIds.get(h.user) as string, h.deviceId, MaliciousMember.garbagePlaintext(kind)));
        this.log('mallory', `undecodable plaintext (kind ${kind}) to ${h.name}`);
        return;
      }
      case 'unordered-bundle':
        return this.mallory.serial(async () => {
          const group = this.mallory.groups.get(this.groupId);
          if (!group) return;
          const copy = GroupSession.deserialize(group.serialize(), this.mallory.account);
          const { bundle } = copy.changeMembers({ epoch: group.epoch + 7n, now: Date.now() });
          const h = this.prng.pick(HONEST);
          await this.mallory.sendPlaintextBytes(this.userIds.get(h.user) as string, h.deviceId, MaliciousMember.bundlePlaintext(bundle));
          this.log('mallory', `bundle for epoch ${group.epoch + 7n} (never ordered) to ${h.name}`);
        });
      case 'replay': {
        if (this.malloryWires.length === 0) return;
        const wire = this.prng.pick(this.malloryWires);
        await this.mallory.serial(() => this.malloryGroupWire(wire, 'one of her group messages again'));
        return;
      }
    }
  }

  async removeMallory(): Promise<boolean> {
    // Give Mallory's epoch time to reach everyone (or be refused) first: a change made while an
    // earlier epoch's bundle is still on its way skips that epoch for good (by design, docs/
    // client.md), and the messages of the skipped epoch would then count as lost.
    const epoch = [...this.serverEpochs.keys()].reduce((a, b) => (a > b ? a : b), 0n);
    const members = HONEST.filter((h) => this.serverEpochs.get(epoch)?.includes(h.name));
    const start = Date.now();
    await this.until(async () => {
      if (Date.now() - start > 1500 && this.quiet(1500)) return true;
      for (const h of members) if (((await this.view(h.name))?.epoch ?? -1n) < epoch) return false;
      return true;
    }, 6000);
    this.log('workload', 'alice removes mallory');
    try {
      await this.device('alice/a1').client.removeGroupMembers(this.groupId, [this.mallory.userId]);
      this.removed = true;
      return true;
    } catch (error) {
      this.notes.push(`alice could not remove mallory yet: ${errorText(error)}`);
      return false;
    }
  }

  private currentMembers(): string[] {
    const latest = [...this.serverEpochs.keys()].sort((a, b) => (a < b ? 1 : -1))[0];
    return latest === undefined ? [] : (this.serverEpochs.get(latest) ?? []);
  }

  async fuzz(): Promise<void> {
    const { steps } = this.sc;
    this.adversary.setMode('adversarial');
    for (let step = 0; step < steps; step++) {
      if (step === Math.floor(steps / 3)) await this.malloryChange();
      if (step === Math.floor((2 * steps) / 3)) await this.removeMallory();
      const action = this.prng.weighted([
        ['dm', 22],
        ['dm-alice-bob', 12],
        ['group', 25],
        ['mallory', 18],
        ['kick', 6],
        ['view', 5],
        ['sleep', 12],
      ] as const);
      switch (action) {
        case 'dm': {
          const from = this.prng.pick(HONEST);
          await this.honestDm(from.name, this.prng.pick(['alice', 'bob', 'carol', 'eve', 'mallory'].filter((u) => u !== from.user)), 'fuzz');
          break;
        }
        case 'dm-alice-bob':
          if (this.prng.chance(0.5)) await this.honestDm('alice/a1', 'bob', 'fuzz');
          else await this.honestDm('bob/b1', 'alice', 'fuzz');
          break;
        case 'group': {
          const members = HONEST.filter((h) => this.currentMembers().includes(h.name));
          if (members.length > 0) await this.honestGroup(this.prng.pick(members).name, 'fuzz');
          break;
        }
        case 'mallory':
          await this.malloryAct();
          break;
        case 'kick': {
          const h = this.prng.pick(HONEST);
          this.log('workload', `restart ${h.name}'s stream`);
          this.adversary.kick(h.name);
          break;
        }
        case 'view':
          for (const h of HONEST) await this.view(h.name);
          break;
        case 'sleep':
          await sleep(this.prng.range(50, 300));
          break;
      }
      await sleep(this.prng.range(10, 60));
    }
  }

  async finish(): Promise<void> {
    this.adversary.setMode('honest');
    this.adversary.kickAll();
    await sleep(400);
    if (!this.removed) {
      await this.settle(8000);
      for (let i = 0; i < 3 && !this.removed; i++) if (!(await this.removeMallory())) await sleep(1000);
      if (!this.removed) this.harness.push('alice could not remove mallory even with an honest server');
    }
    await this.settle(15_000);
    for (const h of HONEST) await this.view(h.name);
    // The final round: every honest member device to the group, and one-to-one both ways.
    const members = HONEST.filter((h) => this.currentMembers().includes(h.name));
    for (const h of members) await this.honestGroup(h.name, 'final');
    await this.honestDm('alice/a1', 'bob', 'final');
    await this.honestDm('bob/b1', 'alice', 'final');
    await this.honestDm('carol/c2', 'eve', 'final');
    await this.honestDm('eve/e1', 'carol', 'final');
    await this.settle(15_000);
    for (const h of HONEST) await this.view(h.name);
    for (const h of HONEST) {
      for (const m of await this.device(h.name).client.messages()) {
        const type = m.kind === 'group' ? 'group-message' : m.kind === 'other-device' ? 'other-device-message' : 'one2one-message';
        this.deliveries.push({
          device: h.name,
          type,
          body: text(m.body),
          from: this.nameOf(m.from.userId, m.from.deviceId),
          groupId: m.groupId,
          conversationUserId: m.conversationUserId,
          at: Date.now(),
          source: 'stored',
        });
      }
    }
  }

  // ---- the invariants ----

  /** Users allowed to read a sent body. */
  private allowedUsers(t: Sent): Set<string> {
    if (t.kind === 'dm') return new Set([t.senderUser, t.toUser as string]);
    const users = new Set<string>();
    const [e1, e2] = t.epochs as [bigint, bigint];
    for (let e = e1; e <= e2; e++) for (const d of this.serverEpochs.get(e) ?? []) users.add(d.split('/')[0] as string);
    return users;
  }

  /** Honest devices that must get a sent body (after the replay). */
  expectedFor(t: Sent): Set<string> {
    if (t.kind === 'dm') return t.expected;
    if (!t.expectable || !t.epochs) return new Set();
    const [e1, e2] = t.epochs;
    let devices: Set<string> | undefined;
    for (let e = e1; e <= e2; e++) {
      const members = new Set(this.serverEpochs.get(e) ?? []);
      devices = devices ? new Set([...devices].filter((d) => members.has(d))) : members;
    }
    return new Set([...(devices ?? [])].filter((d) => d !== t.sender && this.honest.has(d)));
  }

  /** Expected deliveries that have not happened yet (by event). */
  missing(phase?: Sent['phase']): Array<{ t: Sent; device: string }> {
    const got = new Set(this.deliveries.filter((d) => d.source === 'event').map((d) => `${d.device}\u0000${d.body}`));
    const out: Array<{ t: Sent; device: string }> = [];
    for (const t of this.sent.values()) {
      if (phase && t.phase !== phase) continue;
      for (const device of this.expectedFor(t)) if (!got.has(`${device}\u0000${t.body}`)) out.push({ t, device });
    }
    return out;
  }

  check(): Violation[] {
    const out: Violation[] = [];
    const seen = new Set<string>();
    const add = (v: Violation): void => {
      const key = `${v.inv}\u0000${v.device}\u0000${v.text}`;
      if (seen.has(key)) return;
      seen.add(key);
      out.push(v);
    };
    const mallory = this.userIds.get('mallory');
    // I1, I2, I3 on every delivery (events and the stored history).
    const counts = new Map<string, number>();
    for (const d of this.deliveries) {
      const user = d.device.split('/')[0] as string;
      if (d.source === 'event') {
        const key = `${d.device}\u0000${d.body}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
        if (counts.get(key) === 2) add({ inv: 'I3', device: d.device, at: d.at, text: `"${d.body}" delivered twice (${d.type})` });
      }
      const t = this.sent.get(d.body);
      if (!t) {
        add({ inv: 'I2', device: d.device, at: d.at, text: `${d.type} "${d.body}" from ${d.from}: nobody sent this body` });
        continue;
      }
      const allowed = this.allowedUsers(t);
      if (!allowed.has(user)) {
        add({
          inv: 'I1',
          device: d.device,
          at: d.at,
          text: `${d.type} "${d.body}" (${t.kind === 'dm' ? `a one-to-one message of ${t.senderUser} and ${t.toUser}` : `a group message of epoch ${t.epochs?.[0]}..${t.epochs?.[1]}, members ${[...allowed].join(', ')}`}) reached ${user}`,
        });
      }
      if (d.from !== t.sender) add({ inv: 'I2', device: d.device, at: d.at, text: `${d.type} "${d.body}" attributed to ${d.from}, sent by ${t.sender}` });
      if (t.kind === 'group' && (d.type !== 'group-message' || d.groupId !== this.groupId))
        add({ inv: 'I2', device: d.device, at: d.at, text: `group message "${d.body}" delivered as ${d.type} ${d.groupId}` });
      if (t.kind === 'dm') {
        if (d.type === 'group-message') add({ inv: 'I2', device: d.device, at: d.at, text: `one-to-one message "${d.body}" delivered as a group message` });
        if (d.type === 'one2one-message' && user !== t.toUser)
          add({ inv: 'I2', device: d.device, at: d.at, text: `one-to-one message "${d.body}" to ${t.toUser} delivered to ${user} as addressed to it` });
        if (d.type === 'other-device-message' && (user !== t.senderUser || d.device === t.sender || d.conversationUserId !== this.userIds.get(t.toUser as string))) {
          add({
            inv: 'I2',
            device: d.device,
            at: d.at,
            text: `"${d.body}" delivered as a copy of an own device's message (conversation ${this.userNames.get(d.conversationUserId) ?? d.conversationUserId})`,
          });
        }
      }
    }
    // I1 for what Mallory decrypted.
    for (const l of this.mallory.learned) {
      const t = this.sent.get(l.body);
      if (!t || t.sender === MALLORY) continue;
      const allowed = this.allowedUsers(t);
      if (!allowed.has('mallory') && mallory) {
        add({
          inv: 'I1',
          device: MALLORY,
          at: l.at,
          text: `Mallory decrypted "${l.body}" (${l.what}, ${l.via === 'tap' ? "from the server's copy" : 'delivered to her'}; readers: ${[...allowed].join(', ')})`,
        });
      }
    }
    for (const seed of this.mallory.seeds) {
      const members = this.serverEpochs.get(seed.epoch);
      if (seed.groupId === this.groupId && !members?.includes(MALLORY)) {
        add({
          inv: 'I1',
          device: MALLORY,
          at: seed.at,
          text: `Mallory got the seed of epoch ${seed.epoch} (${seed.via === 'tap' ? "from the server's copy" : 'sent to her'}), whose members are [${members?.join(', ') ?? 'never ordered'}]`,
        });
      }
    }
    // I4 and I5: expected deliveries.
    for (const { t, device } of this.missing()) {
      const inv: Inv = t.phase === 'final' ? 'I4' : 'I5';
      add({
        inv,
        device,
        at: t.at,
        text: `never got ${t.kind === 'dm' ? 'one-to-one' : `group (epoch ${t.epochs?.[0]}..${t.epochs?.[1]})`} message "${t.body}" from ${t.sender} (${t.phase})`,
      });
    }
    // I4: the final group state.
    const finalEpoch = [...this.serverEpochs.keys()].sort((a, b) => (a < b ? 1 : -1))[0];
    const finalMembers = finalEpoch === undefined ? [] : (this.serverEpochs.get(finalEpoch) ?? []);
    for (const name of finalMembers) {
      if (!this.honest.has(name)) continue;
      const last = [...this.views].reverse().find((v) => v.device === name);
      if (!last) add({ inv: 'I4', device: name, at: Date.now(), text: `is not in the group at the end (server: epoch ${finalEpoch})` });
      else if (last.epoch !== finalEpoch || last.members.join() !== finalMembers.join()) {
        add({
          inv: 'I4',
          device: name,
          at: last.at,
          text: `ends at epoch ${last.epoch} with [${last.members.join(', ')}]; the server's last epoch is ${finalEpoch} with [${finalMembers.join(', ')}]`,
        });
      }
    }
    // I6: every view against the server's order.
    for (const v of this.views) {
      const ordered = this.serverEpochs.get(v.epoch);
      if (!ordered) add({ inv: 'I6', device: v.device, at: v.at, text: `holds epoch ${v.epoch}, which the server never ordered` });
      else if (ordered.join() !== v.members.join()) {
        const extra = v.members.filter((m) => !ordered.includes(m));
        const lacking = ordered.filter((m) => !v.members.includes(m));
        const parts = [...(extra.length ? [`lists [${extra.join(', ')}], which the server never placed in it`] : []), ...(lacking.length ? [`lacks [${lacking.join(', ')}]`] : [])];
        add({ inv: 'I6', device: v.device, at: v.at, text: `its epoch ${v.epoch} ${parts.join(' and ')}` });
      }
    }
    // H: runtime failures.
    for (const e of this.errors) {
      if (/^(message stream|background maintenance|listener of)/.test(e.context)) add({ inv: 'H', device: e.device, at: e.at, text: `runtime failure (${e.context}): ${e.text}` });
    }
    for (const h of this.harness) add({ inv: 'H', device: 'harness', at: Date.now(), text: h });
    return out;
  }

  /** Every trace entry, error event and delivery of the given devices/actors (all when undefined), in time order. */
  timeline(devices?: string[]): string {
    const keep = (d: string): boolean => !devices || devices.includes(d);
    const rows: Array<[number, string]> = [
      ...this.adversary.trace.filter((e) => keep(e.device)).map((e): [number, string] => [e.at, `${e.device}: ${e.action}`]),
      ...this.errors.filter((e) => keep(e.device)).map((e): [number, string] => [e.at, `${e.device}: ERROR ${e.context}: ${e.text}`]),
      ...this.deliveries.filter((d) => d.source === 'event' && keep(d.device)).map((d): [number, string] => [d.at, `${d.device}: delivered ${d.type} "${d.body}" from ${d.from}`]),
    ];
    rows.sort((a, b) => a[0] - b[0]);
    return rows.map(([at, line]) => `${new Date(at).toISOString().slice(17, 23)} ${line}`).join('\n');
  }

  /** What happened before a violation: the adversary's and Mallory's last actions, the device's errors. */
  context(v: Violation): string {
    const near = (entries: Array<{ at: number; device: string; action: string }>, device: string, n: number): string[] =>
      entries
        .filter((e) => e.device === device && e.at <= v.at + 50)
        .slice(-n)
        .map((e) => `      ${new Date(e.at).toISOString().slice(17, 23)} ${e.action}`);
    const lines: string[] = [];
    const streamActions = near(this.adversary.trace, v.device, 6);
    if (streamActions.length) lines.push(`    adversary on ${v.device}:`, ...streamActions);
    const malloryActions = near(this.adversary.trace, 'mallory', 4);
    if (malloryActions.length) lines.push('    mallory:', ...malloryActions);
    const errs = this.errors.filter((e) => e.device === v.device && (v.inv === 'I5' || v.inv === 'I4' ? e.at >= v.at : e.at <= v.at + 50));
    const shown = (v.inv === 'I5' || v.inv === 'I4' ? errs.slice(0, 3) : errs.slice(-3)).map((e) => `      ${new Date(e.at).toISOString().slice(17, 23)} ${e.context}: ${e.text}`);
    if (shown.length) lines.push(`    errors on ${v.device}:`, ...shown);
    return lines.join('\n');
  }
}

interface Outcome {
  run: Run;
  violations: Violation[];
  ms: number;
}

async function runScenario(server: InProcessServer, sc: Scenario): Promise<Outcome> {
  const started = Date.now();
  const run = new Run(server, sc);
  const phase = async (name: string, fn: () => Promise<void>): Promise<void> => {
    const t = Date.now();
    await fn();
    run.phaseMs.push(`${name} ${Date.now() - t}`);
  };
  try {
    await phase('setup', () => run.setup());
    await phase('fuzz', () => run.fuzz());
    await phase('finish', () => run.finish());
  } catch (error) {
    run.harness.push(`exception: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  } finally {
    await run.mallory.stop();
  }
  return { run, violations: run.check(), ms: Date.now() - started };
}

function reproduce(sc: Scenario): string {
  return `FUZZ_SEED=${hexSeed(sc.seed)} FUZZ_SUITE=${sc.suite} FUZZ_VARIANT=${sc.variant} FUZZ_STEPS=${sc.steps} npx vitest run test/security/adversarial-fuzz.test.ts`;
}

function report(outcome: Outcome, inv: Inv, title: string): string {
  const { run, violations } = outcome;
  const mine = violations.filter((v) => v.inv === inv);
  const shown = mine.slice(0, 8).map((v) => `  - ${v.device}: ${v.text}\n${run.context(v)}`);
  return [
    `${inv} ${title}`,
    `seed ${hexSeed(run.sc.seed)}, suite ${run.sc.suite}, Mallory's bundle: ${run.sc.variant}: ${mine.length} violation(s)${mine.length > shown.length ? ` (first ${shown.length} shown)` : ''}`,
    ...shown,
    `reproduce: ${reproduce(run.sc)}`,
  ].join('\n');
}

for (const sc of scenariosFromEnv()) {
  describe(`issue 11 fuzz: seed ${hexSeed(sc.seed)}, suite ${sc.suite}, Mallory's bundle ${sc.variant}`, () => {
    const server = useInProcessServer({ heartbeatMs: 150, rateLimit: { perSecond: 0, burst: 1 }, ipRateLimit: { perSecond: 0, burst: 1 } });
    let outcome: Outcome | undefined;
    beforeAll(async () => {
      outcome = await runScenario(server, sc);
      const { run } = outcome;
      const byInv = INVARIANTS.map(([inv]) => `${inv}:${outcome?.violations.filter((v) => v.inv === inv).length}`).join(' ');
      const refused = new Map<string, number>();
      for (const e of run.errors) refused.set(e.text.split(':')[0] as string, (refused.get(e.text.split(':')[0] as string) ?? 0) + 1);
      console.info(
        `[fuzz ${hexSeed(sc.seed)} suite ${sc.suite} ${sc.variant}] ${outcome.ms} ms (${run.phaseMs.join(', ')}), ${run.sent.size} bodies, ${run.deliveries.filter((d) => d.source === 'event').length} deliveries, ` +
          `${run.adversary.trace.length} trace entries, ${run.errors.length} error events (${[...refused].map(([k, n]) => `${k} ${n}`).join(', ')}), violations ${byInv}`,
      );
      // FUZZ_TRACE=all or a comma-separated list of devices/actors (e.g. "eve/e1,mallory"): the whole timeline.
      const wanted = process.env.FUZZ_TRACE?.split(',').map((s) => s.trim());
      if (wanted) console.info(`${run.timeline(wanted.includes('all') ? undefined : wanted)}\nnotes:\n${run.notes.join('\n')}`);
    }, 115_000);
    for (const [inv, title] of INVARIANTS) {
      it(`${inv} ${title}`, () => {
        if (!outcome) expect.fail(`the run did not complete (seed ${hexSeed(sc.seed)}); reproduce: ${reproduce(sc)}`);
        if (outcome.violations.some((v) => v.inv === inv)) expect.fail(report(outcome, inv, title));
      });
    }
  });
}
