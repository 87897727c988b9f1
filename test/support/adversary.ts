// A malicious server for property tests (test/security): a protocol handler per honest client that
// sits between it and the reference server. It sees every request and answer (the colluding
// member gets a copy of every message sent), and decides, with a seeded PRNG, what each client's
// stream delivers: genuine messages passed, duplicated, stalled, or (group messages) delayed,
// reordered and withheld; forged copies injected (rewritten `from`/`to`/session ids, swapped
// payloads, replays of old messages, messages of other devices).
//
// What it does not do: destroy a genuine message, reorder the ordered (non-group) part of a
// device's stream, or let a group message overtake the server's announcement of its epoch. A
// message it withholds stays queued at the reference server (it is not consumed) and comes back
// when the stream is restarted; every forged copy carries a fresh id the server does not know (a
// copy under a genuine id only once that message was delivered: earlier, the client would consume
// the id and so delete the genuine message). A server that deletes messages can always stop a group
// from converging, so a run can only require convergence from an adversary that delays; the
// forgeries still reach the client, so what it accepts is tested all the same.
import { clone, create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import type { ProtocolHandler } from './library.js';
import { ProtoMsgSchema, type ProtoMsg } from '../../src/proto/gen/service_pb.js';
import { E2eeAddressSchema, E2eeMsgSchema, type E2eeAddress, type E2eeMsg } from '../../src/proto/gen/wire_pb.js';
import { Prng } from './prng.js';
import { streamRewritingHandler } from './tampering.js';

export type AdversaryMode = 'honest' | 'adversarial';

export interface TraceEntry {
  at: number;
  /** The stream (honest device) it happened on, or the actor ("mallory", "workload"). */
  device: string;
  action: string;
}

export interface AdversaryHooks {
  /** Every E2eeMsg an honest device hands to the server (the colluding member reads them all). */
  onSent?(device: string, msg: E2eeMsg): void;
  /** A membership change the server ordered, as answered to the device that asked for it. */
  onGroupOrder?(device: string, groupAddress: E2eeAddress | undefined, epoch: bigint, memberDevices: E2eeAddress[]): void;
}

interface StreamState {
  device: string;
  address?: E2eeAddress;
  prng: Prng;
  /** Stalled genuine non-group messages, released in order. */
  stall?: ProtoMsg[];
  stallTicks: number;
  /** Delayed messages (genuine group messages, forged copies), released after `wait` more events. */
  delayed: Array<{ msg: ProtoMsg; wait: number }>;
  kickPending: boolean;
  injected: ProtoMsg[];
  /** Ids of genuine messages already handed to the client (only these may be replayed under their own id). */
  delivered: Set<string>;
}

/** Ciphertexts above this size (one-to-one) may carry a GroupPreKeyBundle. */
const BUNDLE_SIZED_BYTES = 300;
const POOL_LIMIT = 600;

/** Forged messages get decimal ids of at most 15 digits (the server's limit), far above any real one. */
const FIRST_FAKE_ID = 900_000_000_000_000n;
const GROUP_NOTICES = new Set(['createGroupMsg', 'addGroupMembersMsg', 'removeGroupMembersMsg', 'addGroupMemberDeviceMsg', 'leaveGroupMsg']);
const isGroupNotice = (msg: ProtoMsg): boolean => GROUP_NOTICES.has(msg.payload.case ?? '');

export const addressName = (a: E2eeAddress | undefined, names: Map<string, string>): string => {
  if (!a) return '-';
  if (a.peer.case === 'user') return names.get(`${a.peer.value.userId}/${a.peer.value.deviceId}`) ?? `${a.peer.value.userId.slice(0, 6)}/${a.peer.value.deviceId}`;
  if (a.peer.case === 'group') return `group:${a.peer.value.groupId.slice(0, 6)}`;
  return 'server';
};

export class AdversarialServer {
  mode: AdversaryMode = 'honest';
  readonly trace: TraceEntry[] = [];
  /** Time of the last non-heartbeat message that arrived on, or was released to, any stream (to tell when things have settled). */
  lastActivity = Date.now();
  /** "userId/deviceId" → readable name, for the trace. */
  readonly names = new Map<string, string>();
  private readonly streams = new Map<string, StreamState>();
  private readonly pool: Array<{ device: string; msg: ProtoMsg }> = [];
  private readonly addresses: E2eeAddress[] = [];
  private readonly sessionIds: string[] = [];
  private readonly seenSessionIds = new Set<string>();
  private nextFakeId = FIRST_FAKE_ID;
  private readonly prng: Prng;

  constructor(
    seed: number,
    private readonly hooks: AdversaryHooks = {},
  ) {
    this.prng = new Prng(seed).fork('adversary');
  }

  log(device: string, action: string): void {
    this.trace.push({ at: Date.now(), device, action });
  }

  describe(msg: ProtoMsg): string {
    let kind: string = msg.payload.case ?? 'empty';
    if (msg.payload.case === 'e2eeMsg') {
      const inner = msg.payload.value.payload;
      kind =
        inner.case === 'groupMsg'
          ? `groupMsg(epoch ${inner.value.epoch}, #${inner.value.messageIndex})`
          : `one2oneMsg(${inner.value?.ciphertext.length ?? 0} B, session ${Buffer.from(msg.payload.value.sessionTag).toString('hex').slice(0, 6)})`;
    }
    return `#${msg.id} ${kind} from ${addressName(msg.from, this.names)}`;
  }

  /** Registers a device address the adversary may name in forged messages. */
  knowDevice(address: E2eeAddress, name: string): void {
    this.addresses.push(address);
    if (address.peer.case === 'user') this.names.set(`${address.peer.value.userId}/${address.peer.value.deviceId}`, name);
  }

  setMode(mode: AdversaryMode): void {
    this.mode = mode;
    this.log('adversary', `mode ${mode}`);
  }

  /** Ends `device`'s stream at its next event; the client reconnects and the server replays what it has not consumed. */
  kick(device: string): void {
    const s = this.streams.get(device);
    if (s) s.kickPending = true;
  }

  kickAll(): void {
    for (const device of this.streams.keys()) this.kick(device);
  }

  /** Delivers `msg` (with a fresh id) on `device`'s stream at its next event. */
  inject(device: string, msg: ProtoMsg): void {
    const s = this.streams.get(device);
    if (!s) return;
    const copy = clone(ProtoMsgSchema, msg);
    copy.id = this.fakeId();
    s.injected.push(copy);
    this.log(device, `inject ${this.describe(copy)}`);
  }

  /** Session ids seen on the wire (one-to-one messages, invites, accepts). */
  get observedSessionIds(): readonly string[] {
    return this.sessionIds;
  }

  /** The protocol handler of one honest device. */
  handlerFor(device: string, url: string): ProtocolHandler {
    const state: StreamState = { device, prng: this.prng.fork(`stream/${device}`), stallTicks: 0, delayed: [], kickPending: false, injected: [], delivered: new Set() };
    this.streams.set(device, state);
    const base = streamRewritingHandler(url, (msg) => {
      const out = this.rewrite(state, msg);
      for (const m of out) if (BigInt(m.id || '0') < FIRST_FAKE_ID) state.delivered.add(m.id);
      return out;
    });
    const hooks = this.hooks;
    const service = new Proxy(base.service, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver) as unknown;
        if (typeof value !== 'function' || prop === 'subscribe') return value;
        const method = value as (request: unknown, options?: unknown) => Promise<unknown>;
        return async (request: { msg?: E2eeMsg; groupAddress?: E2eeAddress }, options?: unknown) => {
          if ((prop === 'sendOne2oneMsg' || prop === 'sendGroupMsg') && request?.msg) {
            hooks.onSent?.(device, fromBinary(E2eeMsgSchema, toBinary(E2eeMsgSchema, create(E2eeMsgSchema, request.msg))));
          }
          const response = (await method.call(target, request, options)) as { code: number; epoch?: bigint; memberDevices?: E2eeAddress[]; groupAddress?: E2eeAddress };
          const ordered = prop === 'createGroup' || prop === 'addGroupMembers' || prop === 'removeGroupMembers' || prop === 'addGroupMemberDevice';
          if (ordered && response.code >= 200 && response.code < 300) {
            hooks.onGroupOrder?.(device, response.groupAddress ?? request.groupAddress, response.epoch ?? 0n, response.memberDevices ?? []);
          }
          return response;
        };
      },
    });
    return { service, setToken: (token) => base.setToken(token) };
  }

  private fakeId(): string {
    return (this.nextFakeId++).toString();
  }

  private remember(device: string, msg: ProtoMsg): void {
    this.pool.push({ device, msg: clone(ProtoMsgSchema, msg) });
    if (this.pool.length > POOL_LIMIT) this.pool.splice(this.prng.int(POOL_LIMIT / 2), 1);
    const p = msg.payload;
    const sessionId = p.case === 'e2eeMsg' || p.case === 'inviteMsg' || p.case === 'acceptMsg' ? p.value.sessionId : '';
    if (sessionId && !this.seenSessionIds.has(sessionId)) {
      this.seenSessionIds.add(sessionId);
      this.sessionIds.push(sessionId);
    }
  }

  private releaseAll(s: StreamState): ProtoMsg[] {
    const out = [...(s.stall ?? []), ...s.delayed.map((d) => d.msg)];
    s.stall = undefined;
    s.delayed = [];
    return out;
  }

  /** Time passes on a stream (one event): delayed messages fall due, a stall ends after its heartbeats. */
  private tick(s: StreamState, heartbeat: boolean): ProtoMsg[] {
    const out: ProtoMsg[] = [];
    if (s.stall && heartbeat && --s.stallTicks <= 0) {
      this.lastActivity = Date.now();
      out.push(...s.stall);
      this.log(s.device, `release stall of ${s.stall.length}`);
      s.stall = undefined;
    }
    const due = s.delayed.filter((d) => --d.wait <= 0);
    if (due.length > 0) {
      this.lastActivity = Date.now();
      s.delayed = s.delayed.filter((d) => d.wait > 0);
      for (const d of s.prng.shuffle(due)) {
        out.push(d.msg);
        this.log(s.device, `release delayed ${this.describe(d.msg)}`);
      }
    }
    return out;
  }

  private rewrite(s: StreamState, msg: ProtoMsg): ProtoMsg[] {
    if (s.kickPending) {
      s.kickPending = false;
      // What is buffered was not consumed: the server sends it again on the new stream.
      s.stall = undefined;
      s.delayed = [];
      s.injected = [];
      this.log(s.device, 'restart stream');
      throw new ConnectError('the adversary restarts the stream', Code.Unavailable);
    }
    const heartbeat = msg.payload.case === 'serverHeartbeatMsg';
    if (!heartbeat) {
      this.lastActivity = Date.now();
      if (!s.address && msg.to) s.address = msg.to;
      this.remember(s.device, msg);
    }
    const out: ProtoMsg[] = s.injected.splice(0);
    if (this.mode === 'honest') {
      out.push(...this.releaseAll(s), msg);
      return out;
    }
    out.push(...this.tick(s, heartbeat));
    if (heartbeat) {
      out.push(msg);
      return out;
    }
    const prng = s.prng;
    // Forged copies (fresh ids) before, after, or later than the genuine message.
    const forgedBefore: ProtoMsg[] = [];
    const forgedAfter: ProtoMsg[] = [];
    if (prng.chance(0.35)) {
      const forged = this.forge(s, msg);
      if (forged) {
        const where = prng.weighted([
          ['before', 4],
          ['after', 3],
          ['later', 3],
        ] as const);
        if (where === 'before') forgedBefore.push(forged);
        else if (where === 'after') forgedAfter.push(forged);
        else s.delayed.push({ msg: forged, wait: prng.range(1, 6) });
      }
    }
    out.push(...forgedBefore);
    const isGroupMsg = msg.payload.case === 'e2eeMsg' && msg.payload.value.payload.case === 'groupMsg';
    if (isGroupMsg && s.stall?.some(isGroupNotice)) {
      // Never ahead of the server's announcement of its epoch (the honest server's order keeps
      // that, and a client drops a message for an epoch it was not told of).
      s.stall.push(msg);
    } else if (isGroupMsg) {
      // Group messages may arrive in any order, before their epoch's bundle, or not until later.
      const fate = prng.weighted([
        ['pass', 50],
        ['delay', 27],
        ['withhold', 10],
        ['duplicate', 13],
      ] as const);
      if (fate === 'pass') out.push(msg);
      else if (fate === 'duplicate') out.push(msg, clone(ProtoMsgSchema, msg));
      else if (fate === 'delay') s.delayed.push({ msg, wait: prng.range(1, 8) });
      if (fate !== 'pass') this.log(s.device, `${fate} ${this.describe(msg)}`);
    } else if (s.stall) {
      s.stall.push(msg);
    } else {
      const bundleSized =
        msg.payload.case === 'e2eeMsg' && msg.payload.value.payload.case === 'one2oneMsg' && msg.payload.value.payload.value.ciphertext.length > BUNDLE_SIZED_BYTES;
      if (prng.chance(bundleSized ? 0.5 : 0.1)) {
        s.stall = [msg];
        s.stallTicks = prng.range(2, 8);
        this.log(s.device, `${bundleSized ? 'withhold (may carry a bundle)' : 'stall'} ${this.describe(msg)} for ${s.stallTicks} heartbeats`);
      } else if (prng.chance(0.08)) {
        out.push(msg, clone(ProtoMsgSchema, msg));
        this.log(s.device, `duplicate ${this.describe(msg)}`);
      } else {
        out.push(msg);
      }
    }
    out.push(...forgedAfter);
    return out;
  }

  /** A forged message derived from `msg` or from what the adversary has seen; it carries a fresh id. */
  private forge(s: StreamState, msg: ProtoMsg): ProtoMsg | undefined {
    const prng = s.prng;
    const kind = prng.weighted([
      ['replay', 3],
      ['forge-from', 3],
      ['misroute', 2],
      ['swap-payload', 2],
      ['rewrite-session', 2],
    ] as const);
    const own = this.pool.filter((p) => p.device === s.device);
    const others = this.pool.filter((p) => p.device !== s.device);
    let forged: ProtoMsg;
    switch (kind) {
      case 'replay': {
        if (own.length === 0) return undefined;
        const old = prng.pick(own).msg;
        forged = clone(ProtoMsgSchema, old);
        // Under its own id only once delivered: an early copy under the genuine id would take the
        // genuine message's place (the client consumes that id) out of order, i.e. delete it.
        if (s.delivered.has(old.id) && prng.chance(0.5)) {
          this.log(s.device, `forge: replay (same id) ${this.describe(forged)}`);
          return forged;
        }
        break;
      }
      case 'forge-from': {
        if (this.addresses.length < 2) return undefined;
        forged = clone(ProtoMsgSchema, msg);
        const target = prng.pick(this.addresses);
        forged.from = clone(E2eeAddressSchema, target);
        const p = forged.payload;
        if (prng.chance(0.5) && (p.case === 'inviteMsg' || p.case === 'acceptMsg' || (p.case === 'e2eeMsg' && p.value.payload.case === 'one2oneMsg')))
          p.value.from = clone(E2eeAddressSchema, target);
        break;
      }
      case 'misroute': {
        if (others.length === 0) return undefined;
        forged = clone(ProtoMsgSchema, prng.pick(others).msg);
        if (prng.chance(0.5) && s.address) forged.to = clone(E2eeAddressSchema, s.address);
        break;
      }
      case 'swap-payload': {
        const source = prng.pick(prng.chance(0.5) && others.length > 0 ? others : own).msg;
        forged = clone(ProtoMsgSchema, msg);
        forged.payload = clone(ProtoMsgSchema, source).payload;
        break;
      }
      case 'rewrite-session': {
        const p = msg.payload;
        if (this.sessionIds.length === 0 || !(p.case === 'acceptMsg' || (p.case === 'e2eeMsg' && p.value.payload.case === 'one2oneMsg'))) return undefined;
        forged = clone(ProtoMsgSchema, msg);
        const fp = forged.payload;
        const sessionId = prng.pick(this.sessionIds);
        // v2 one-to-one messages name their session by a tag: its id's first 8 bytes.
        if (fp.case === 'acceptMsg') fp.value.sessionId = sessionId;
        if (fp.case === 'e2eeMsg') fp.value.sessionTag = Uint8Array.from(Buffer.from(sessionId.slice(0, 16), 'hex'));
        break;
      }
    }
    forged.id = this.fakeId();
    this.log(s.device, `forge: ${kind} ${this.describe(forged)}${kind === 'misroute' || kind === 'swap-payload' ? ` (to ${addressName(forged.to, this.names)})` : ''}`);
    return forged;
  }
}
