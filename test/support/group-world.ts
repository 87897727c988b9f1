// Group-session fixtures for the test/group suites: member devices and a `World` that drives a group.
//
// A `World` holds member devices (each device its own Account and GroupSession) and drives the
// group the way an app would: the creator or changer makes an epoch bundle, the bundle reaches
// every listed recipient (here handed over directly; test/group/fan-out.test.ts sends it through
// real one-to-one sessions), recipients join or apply it, and messages are broadcast to every
// current member device and checked against what was sent.
import { expect } from 'vitest';
import { Account, GroupSession, NotAMemberError, ReplayError, type EpochBundle, type GroupMemberInfo } from './library.js';
import { equalBytes, hex, utf8 } from './bytes.js';
import { describeError, expectThrow, show } from './failures.js';
import { HOUR, T0, type SuiteNo } from './protocol.js';

/** DESIGN.md §4 / docs/protocol-api.md: superseded epochs stay readable for 1 h. */
export const GRACE_MS = HOUR;
export const DOMAIN = 'example.org';

export interface GroupDevice {
  /** "user/device" */
  name: string;
  userId: string;
  deviceId: string;
  account: Account;
  info: GroupMemberInfo;
  session?: GroupSession;
}

export function newDevice(suite: SuiteNo, userId: string, deviceId: string, account?: Account): GroupDevice {
  const acc = account ?? Account.create({ suite, now: T0 });
  return {
    name: `${userId}/${deviceId}`,
    userId,
    deviceId,
    account: acc,
    info: { userId, deviceId, signPublicKey: acc.identityPublicKey.signPublicKey },
  };
}

/** "user/device" of a member as the API returns it. */
export const nameOf = (m: { userId: string; deviceId: string }): string => `${m.userId}/${m.deviceId}`;

/** A canonical, comparable view of a member list: sorted "user/device:keyhex". */
export function memberSet(members: GroupMemberInfo[]): string[] {
  return members.map((m) => `${nameOf(m)}:${hex(m.signPublicKey)}`).sort();
}

export const restoreGroup = (d: GroupDevice): GroupSession => GroupSession.deserialize((d.session as GroupSession).serialize(), d.account);

export interface Sent {
  wire: Uint8Array;
  plain: Uint8Array;
  sender: GroupDevice;
  epoch: bigint;
}

/** Decrypts and checks plaintext, sender and epoch; fails the test with a description otherwise. */
export function expectGroupDecrypts(receiver: GroupDevice, m: Sent, where = ''): void {
  let got: ReturnType<GroupSession['decrypt']>;
  try {
    got = (receiver.session as GroupSession).decrypt(m.wire);
  } catch (e) {
    expect.fail(`${where} ${receiver.name} could not decrypt ${m.sender.name}'s epoch-${m.epoch} message: ${describeError(e)}`);
  }
  if (!equalBytes(got.plaintext, m.plain)) expect.fail(`${where} ${receiver.name} decrypted different bytes: ${show(got.plaintext)}`);
  if (nameOf(got.sender) !== m.sender.name || !equalBytes(got.sender.signPublicKey, m.sender.info.signPublicKey)) {
    expect.fail(`${where} ${receiver.name} reports sender ${nameOf(got.sender)} instead of ${m.sender.name}`);
  }
  if (got.epoch !== m.epoch) expect.fail(`${where} ${receiver.name} reports epoch ${got.epoch} instead of ${m.epoch}`);
}

export interface WorldOptions {
  groupId?: string;
  /** Serialize and restore every session after every step. */
  persist?: boolean;
  now?: number;
}

/** A group of member devices and the epochs they went through. */
export class World {
  readonly devices = new Map<string, GroupDevice>();
  /** Names of the member devices of the current epoch (the truth the sessions are checked against). */
  members: string[] = [];
  epoch = 0n;
  now: number;
  readonly groupId: string;
  private readonly persist: boolean;
  private counter = 0;

  constructor(
    readonly suite: SuiteNo,
    opts: WorldOptions = {},
  ) {
    this.groupId = opts.groupId ?? 'group-1';
    this.persist = opts.persist ?? false;
    this.now = opts.now ?? T0;
  }

  device(name: string): GroupDevice {
    const existing = this.devices.get(name);
    if (existing) return existing;
    const [userId, deviceId] = name.split('/') as [string, string];
    const d = newDevice(this.suite, userId, deviceId ?? 'main');
    this.devices.set(d.name, d);
    return d;
  }

  get(name: string): GroupDevice {
    const d = this.devices.get(name);
    if (!d) throw new Error(`no device ${name}`);
    return d;
  }

  memberDevices(): GroupDevice[] {
    return this.members.map((n) => this.get(n));
  }

  /** Serialize / deserialize every session (when the world persists). */
  touch(): void {
    if (!this.persist) return;
    for (const d of this.devices.values()) if (d.session) d.session = restoreGroup(d);
  }

  create(creatorName: string, memberNames: string[], epoch: bigint = 0n): EpochBundle {
    const creator = this.device(creatorName);
    const others = memberNames.map((n) => this.device(n));
    const { session, bundle, recipients } = GroupSession.create(creator.account, {
      groupId: this.groupId,
      domain: DOMAIN,
      userId: creator.userId,
      deviceId: creator.deviceId,
      members: others.map((d) => d.info),
      epoch,
    });
    creator.session = session;
    this.epoch = epoch;
    this.members = [creator.name, ...others.map((d) => d.name)].sort();
    expect(memberSet(recipients)).toEqual(memberSet(others.map((d) => d.info)));
    for (const d of others) d.session = GroupSession.join(d.account, bundle, { userId: d.userId, deviceId: d.deviceId, now: this.now });
    this.touch();
    this.checkConsistent();
    return { bundle, recipients };
  }

  /**
   * One membership change made by `changerName`: every remaining device applies the bundle, every
   * added device joins with it, every removed device is refused it (NotAMemberError).
   */
  change(changerName: string, change: { add?: string[]; remove?: Array<{ userId: string; deviceId?: string }> }, epoch: bigint = this.epoch + 1n): EpochBundle {
    const changer = this.get(changerName);
    const added = (change.add ?? []).map((n) => this.device(n));
    const result = (changer.session as GroupSession).changeMembers({
      add: added.map((d) => d.info),
      ...(change.remove ? { remove: change.remove } : {}),
      epoch,
      now: this.now,
    });
    const removed = this.members.filter((n) => {
      const d = this.get(n);
      return (change.remove ?? []).some((r) => r.userId === d.userId && (r.deviceId === undefined || r.deviceId === d.deviceId));
    });
    const before = new Set(this.members);
    this.members = [...new Set([...this.members.filter((n) => !removed.includes(n)), ...added.map((d) => d.name)])].sort();
    this.epoch = epoch;
    expect(result.recipients.map(nameOf).sort()).toEqual(this.members.filter((n) => n !== changerName));
    this.deliverBundle(result.bundle, before, removed);
    this.touch();
    this.checkConsistent();
    return result;
  }

  /** Applies (or joins with) `bundle` on every current member except its maker; removed ones are refused. */
  deliverBundle(bundle: Uint8Array, before: Set<string>, removed: string[]): void {
    for (const name of this.members) {
      const d = this.get(name);
      if (d.session && before.has(name)) {
        if (d.session.epoch !== this.epoch) d.session.applyBundle(bundle, this.now);
      } else {
        d.session = GroupSession.join(d.account, bundle, { userId: d.userId, deviceId: d.deviceId, now: this.now });
      }
    }
    for (const name of removed) {
      const d = this.get(name);
      expectThrow(() => d.session?.applyBundle(bundle, this.now), NotAMemberError);
      expectThrow(() => GroupSession.join(d.account, bundle, { userId: d.userId, deviceId: d.deviceId, now: this.now }), NotAMemberError);
    }
  }

  /** Every member device is at the current epoch with the expected member list. */
  checkConsistent(): void {
    const expected = memberSet(this.memberDevices().map((d) => d.info));
    for (const d of this.memberDevices()) {
      const s = d.session as GroupSession;
      expect(s, `${d.name} has a session`).toBeDefined();
      expect(s.epoch, `${d.name} epoch`).toBe(this.epoch);
      expect(memberSet(s.members), `${d.name} members`).toEqual(expected);
      expect(s.groupId).toBe(this.groupId);
    }
  }

  send(senderName: string, text?: string): Sent {
    const sender = this.get(senderName);
    const plain = utf8(text ?? `${senderName} #${this.counter++} @${this.epoch}`);
    const wire = (sender.session as GroupSession).encrypt(plain);
    return { wire, plain, sender, epoch: (sender.session as GroupSession).epoch };
  }

  /** Delivers `m` to every current member device but its sender (which must refuse its own message). */
  deliver(m: Sent, where = ''): void {
    for (const d of this.memberDevices()) {
      if (d === m.sender) continue;
      expectGroupDecrypts(d, m, where);
    }
  }

  /**
   * Every current member sends one message that every other member decrypts; the sender refuses its
   * own. Returns them (a device that joins the epoch later reads them as the server would deliver them
   * to it: a sender's first message of an epoch carries its sender key).
   */
  allTalk(where = ''): Sent[] {
    const sent: Sent[] = [];
    for (const name of this.members) {
      const m = this.send(name);
      this.deliver(m, where);
      expectThrow(() => m.sender.session?.decrypt(m.wire), ReplayError);
      sent.push(m);
    }
    this.touch();
    return sent;
  }
}
