// Shared helpers for the protocol test suites (test/protocol/*.test.ts). Not a test file itself.
//
// Everything here is independent of the code under test except the public API it drives: expected
// values are fixed in the tests (or compare the two sides of a conversation), and the protobuf
// reader/writer below is a minimal independent implementation of the wire format (used to locate
// and edit fields of src/proto/wire.proto messages, never the project's generated code).
import { shake256 } from '@noble/hashes/sha3.js';
import { expect } from 'vitest';
import { Account, InboundSession, OutboundSession, Pqe2eeError, Session } from '../../src/index.js';

export const SUITES = [1, 2, 3] as const;
export type SuiteNo = (typeof SUITES)[number];

export const DAY = 24 * 60 * 60 * 1000;
/** A fixed "now" for account creation (2025-01-01T00:00:00Z). */
export const T0 = Date.UTC(2025, 0, 1);

const te = new TextEncoder();
const td = new TextDecoder();
export const utf8 = (s: string): Uint8Array => te.encode(s);
export const fromUtf8 = (b: Uint8Array): string => td.decode(b);

export function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Copy of `b` with bit `bit` of byte `index` flipped. */
export function flipBit(b: Uint8Array, index: number, bit = 0): Uint8Array {
  const c = Uint8Array.from(b);
  c[index] = (c[index] as number) ^ (1 << bit);
  return c;
}

/** Index of the first occurrence of `needle` in `hay`, or -1. */
export function indexOfBytes(hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

// ---------------------------------------------------------------------------------------------
// Seeded deterministic randomness: SHAKE256(seed || counter). Default seed fixed per label, so runs
// are reproducible; PQE2EE_TEST_SEED=<hex> replaces it (e.g. to explore other inputs).

export class Rng {
  private counter = 0;
  private pool = new Uint8Array(0);
  private poolOffset = 0;
  private readonly seed: Uint8Array;
  readonly seedHex: string;

  constructor(label: string) {
    const env = process.env['PQE2EE_TEST_SEED'];
    const seed = env ? Uint8Array.from(Buffer.from(env, 'hex')) : shake256(utf8(`pqe2ee protocol tests/${label}`), { dkLen: 32 });
    this.seed = seed;
    this.seedHex = hex(seed);
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let o = 0;
    while (o < n) {
      if (this.poolOffset >= this.pool.length) {
        const ctr = new Uint8Array(8);
        new DataView(ctr.buffer).setBigUint64(0, BigInt(this.counter++));
        this.pool = shake256(concatBytes(this.seed, ctr), { dkLen: 4096 });
        this.poolOffset = 0;
      }
      const take = Math.min(n - o, this.pool.length - this.poolOffset);
      out.set(this.pool.subarray(this.poolOffset, this.poolOffset + take), o);
      o += take;
      this.poolOffset += take;
    }
    return out;
  }

  /** Uniform integer in [lo, hi] (inclusive). */
  int(lo: number, hi: number): number {
    const b = this.bytes(6);
    const v = b.reduce((acc, x) => acc * 256 + x, 0);
    return lo + (v % (hi - lo + 1));
  }

  bool(): boolean {
    return this.int(0, 1) === 1;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from empty list');
    return items[this.int(0, items.length - 1)] as T;
  }

  /** Fisher-Yates shuffle (in place; returns the array). */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      [items[i], items[j]] = [items[j] as T, items[i] as T];
    }
    return items;
  }
}

// ---------------------------------------------------------------------------------------------
// Errors

type ErrorClass = abstract new (...args: never[]) => Error;

/** A short description of anything thrown. */
export function describeError(e: unknown): string {
  if (e instanceof Error) return `${e.constructor.name}(${String((e as { code?: unknown }).code ?? '')}): ${e.message}`;
  return `non-Error throw: ${String(e)}`;
}

/** True if `e` is a typed error of the package: instanceof Pqe2eeError with a string code ERR_*. */
export function isTypedError(e: unknown): e is Pqe2eeError {
  return e instanceof Pqe2eeError && typeof e.code === 'string' && /^ERR_[A-Z0-9_]+$/.test(e.code);
}

/**
 * Runs `fn` and returns what it threw; fails the test if it returned, or threw something that is
 * not one of `classes` (default: any Pqe2eeError with a string code).
 */
export function expectThrow(fn: () => unknown, ...classes: ErrorClass[]): Pqe2eeError {
  let result: unknown;
  try {
    result = fn();
  } catch (e) {
    const wanted = classes.length ? classes : [Pqe2eeError];
    if (!isTypedError(e) || !wanted.some((c) => e instanceof c)) {
      expect.fail(`expected ${wanted.map((c) => c.name).join(' or ')}, got ${describeError(e)}`);
    }
    return e as Pqe2eeError;
  }
  return expect.fail(`expected ${classes.map((c) => c.name).join(' or ') || 'Pqe2eeError'}, but the call returned ${show(result)}`);
}

/** Like expectThrow, but returns a failure description (or null) instead of failing: for big loops. */
export function checkThrow(fn: () => unknown, ...classes: ErrorClass[]): string | null {
  let result: unknown;
  try {
    result = fn();
  } catch (e) {
    const wanted = classes.length ? classes : [Pqe2eeError];
    if (!isTypedError(e) || !wanted.some((c) => e instanceof c)) return `expected ${wanted.map((c) => c.name).join(' or ')}, got ${describeError(e)}`;
    return null;
  }
  return `expected ${classes.map((c) => c.name).join(' or ') || 'Pqe2eeError'}, but the call returned ${show(result)}`;
}

export function show(r: unknown): string {
  if (r instanceof Uint8Array) return `Uint8Array(${r.length}) ${hex(r.subarray(0, 24))}${r.length > 24 ? '…' : ''}`;
  if (r && typeof r === 'object') return `{${Object.keys(r).join(',')}}`;
  return String(r);
}

/** Collects failures of a big loop and reports them together (first 30). */
export class Failures {
  readonly list: string[] = [];
  add(where: string, msg: string | null | undefined): void {
    if (msg) this.list.push(`${where}: ${msg}`);
  }
  assertNone(): void {
    if (this.list.length === 0) return;
    const shown = this.list.slice(0, 30).join('\n  ');
    const more = this.list.length > 30 ? `\n  ... and ${this.list.length - 30} more` : '';
    expect.fail(`${this.list.length} failure(s):\n  ${shown}${more}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Sessions

export interface Pair {
  alice: Account;
  bob: Account;
  a: Session; // initiator
  b: Session; // responder
  invite: Uint8Array;
  accept: Uint8Array;
}

export function newAccount(suite: SuiteNo, now = T0): Account {
  return Account.create({ suite, now });
}

/** Alice invites Bob (with or without an OPK), Bob accepts, Alice completes. */
export function establish(suite: SuiteNo, opts: { withOneTimePreKey?: boolean; alice?: Account; bob?: Account; complete?: boolean } = {}): Pair {
  const alice = opts.alice ?? newAccount(suite);
  const bob = opts.bob ?? newAccount(suite);
  const bundle = bob.preKeyBundle({ withOneTimePreKey: opts.withOneTimePreKey ?? true });
  const { session: a, invite } = OutboundSession.initiate(alice, bundle);
  const { session: b, accept } = InboundSession.accept(bob, invite);
  if (opts.complete ?? true) a.complete(accept);
  return { alice, bob, a, b, invite, accept };
}

/** A session restored from its serialized state. */
export const restore = (s: Session): Session => Session.deserialize(s.serialize());
export const restoreAccount = (acc: Account): Account => Account.deserialize(acc.serialize());

/** A plaintext that names its sender and number, plus some seeded random bytes, so every message is unique. */
export function plaintextFor(tag: string, rng?: Rng, extra = 0): Uint8Array {
  const head = utf8(`${tag}|`);
  return rng ? concatBytes(head, rng.bytes(extra || rng.int(0, 64))) : head;
}

/** Decrypts and checks the plaintext. */
export function expectDecrypts(session: Session, wire: Uint8Array, expected: Uint8Array, where = ''): void {
  let got: Uint8Array;
  try {
    got = session.decrypt(wire);
  } catch (e) {
    expect.fail(`${where} decrypt threw ${describeError(e)}`);
  }
  if (!equalBytes(got, expected)) expect.fail(`${where} decrypted to different bytes: ${show(got)} instead of ${show(expected)}`);
}

// ---------------------------------------------------------------------------------------------
// Minimal independent protobuf wire-format reader/writer (proto3 binary encoding).

export interface PbField {
  no: number;
  wt: number; // 0 varint, 1 i64, 2 len, 5 i32
  start: number; // offset of the tag within the buffer parsed
  valueStart: number; // offset of the value (for LEN: of the payload, after the length)
  end: number; // offset after the field
  varint?: bigint;
}

function readVarint(buf: Uint8Array, pos: number): { value: bigint; pos: number } {
  let value = 0n;
  let shift = 0n;
  for (let i = 0; i < 10; i++) {
    if (pos >= buf.length) throw new Error('pb: truncated varint');
    const b = buf[pos++] as number;
    value |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return { value, pos };
    shift += 7n;
  }
  throw new Error('pb: varint too long');
}

export function encodeVarint(v: bigint): Uint8Array {
  const out: number[] = [];
  let x = BigInt.asUintN(64, v);
  do {
    let b = Number(x & 0x7fn);
    x >>= 7n;
    if (x !== 0n) b |= 0x80;
    out.push(b);
  } while (x !== 0n);
  return Uint8Array.from(out);
}

/** Parses one level of a protobuf message; throws on malformed input. */
export function pbParse(buf: Uint8Array): PbField[] {
  const fields: PbField[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const start = pos;
    const tag = readVarint(buf, pos);
    pos = tag.pos;
    const no = Number(tag.value >> 3n);
    const wt = Number(tag.value & 7n);
    if (no === 0) throw new Error('pb: field number 0');
    let valueStart = pos;
    let varint: bigint | undefined;
    switch (wt) {
      case 0: {
        const v = readVarint(buf, pos);
        varint = v.value;
        pos = v.pos;
        break;
      }
      case 1:
        pos += 8;
        break;
      case 5:
        pos += 4;
        break;
      case 2: {
        const len = readVarint(buf, pos);
        valueStart = len.pos;
        pos = len.pos + Number(len.value);
        break;
      }
      default:
        throw new Error(`pb: wire type ${wt}`);
    }
    if (pos > buf.length) throw new Error('pb: truncated field');
    fields.push({ no, wt, start, valueStart, end: pos, ...(varint !== undefined ? { varint } : {}) });
  }
  return fields;
}

/** Payload bytes of a LEN field. */
export const pbBytes = (buf: Uint8Array, f: PbField): Uint8Array => buf.subarray(f.valueStart, f.end);

/** The last occurrence of the field at `path` (field numbers, outermost first), with absolute offsets. */
export function pbFind(buf: Uint8Array, path: number[]): PbField | undefined {
  let base = 0;
  let cur = buf;
  let found: PbField | undefined;
  for (let depth = 0; depth < path.length; depth++) {
    const f = pbParse(cur).filter((x) => x.no === path[depth]).pop();
    if (!f) return undefined;
    found = { ...f, start: f.start + base, valueStart: f.valueStart + base, end: f.end + base };
    if (depth < path.length - 1) {
      if (f.wt !== 2) return undefined;
      base += f.valueStart;
      cur = cur.subarray(f.valueStart, f.end);
    }
  }
  return found;
}

export function pbVarintAt(buf: Uint8Array, path: number[]): bigint | undefined {
  return pbFind(buf, path)?.varint;
}

export function pbBytesAt(buf: Uint8Array, path: number[]): Uint8Array | undefined {
  const f = pbFind(buf, path);
  return f && f.wt === 2 ? pbBytes(buf, f) : undefined;
}

type PbValue = { varint: bigint } | { bytes: Uint8Array } | { remove: true };

function encodeField(no: number, v: { varint: bigint } | { bytes: Uint8Array }): Uint8Array {
  if ('varint' in v) return concatBytes(encodeVarint(BigInt((no << 3) | 0)), encodeVarint(v.varint));
  return concatBytes(encodeVarint(BigInt((no << 3) | 2)), encodeVarint(BigInt(v.bytes.length)), v.bytes);
}

/**
 * A copy of `buf` with the field at `path` replaced (or removed, or appended at its level when it is
 * absent); every enclosing length is rewritten.
 */
export function pbSet(buf: Uint8Array, path: number[], value: PbValue): Uint8Array {
  const [no, ...rest] = path;
  if (no === undefined) throw new Error('pbSet: empty path');
  const fields = pbParse(buf);
  const f = fields.filter((x) => x.no === no).pop();
  let replacement: Uint8Array;
  if (rest.length === 0) {
    replacement = 'remove' in value ? new Uint8Array(0) : encodeField(no, value);
  } else {
    const inner = f ? pbBytes(buf, f) : new Uint8Array(0);
    replacement = encodeField(no, { bytes: pbSet(inner, rest, value) });
  }
  if (!f) return concatBytes(buf, replacement);
  return concatBytes(buf.subarray(0, f.start), replacement, buf.subarray(f.end));
}

/** A copy of `buf` without any occurrence of field `no` at the level `path` (message path). */
export function pbRemoveAll(buf: Uint8Array, path: number[], no: number): Uint8Array {
  if (path.length === 0) {
    const parts = pbParse(buf)
      .filter((f) => f.no !== no)
      .map((f) => buf.subarray(f.start, f.end));
    return concatBytes(...parts);
  }
  const [head, ...rest] = path;
  const f = pbParse(buf)
    .filter((x) => x.no === head)
    .pop();
  if (!f || head === undefined) return buf;
  const inner = pbRemoveAll(pbBytes(buf, f), rest, no);
  return concatBytes(buf.subarray(0, f.start), encodeField(head, { bytes: inner }), buf.subarray(f.end));
}

/**
 * Byte ranges of `buf` that are protobuf structure or small scalars (tags, lengths, varints, short
 * strings), as opposed to the payload of long byte fields (keys, ciphertexts, signatures), found by
 * descending into every LEN field that parses as a message. Used to try all 8 bits on those bytes.
 */
export function structuralOffsets(buf: Uint8Array, minBlob = 32): number[] {
  const out: number[] = [];
  const walk = (base: number, cur: Uint8Array, depth: number): void => {
    let fields: PbField[];
    try {
      fields = pbParse(cur);
    } catch {
      return;
    }
    for (const f of fields) {
      if (f.wt !== 2) {
        for (let i = f.start; i < f.end; i++) out.push(base + i);
        continue;
      }
      for (let i = f.start; i < f.valueStart; i++) out.push(base + i);
      const len = f.end - f.valueStart;
      if (len < minBlob) for (let i = f.valueStart; i < f.end; i++) out.push(base + i);
      else if (depth < 4) walk(base + f.valueStart, cur.subarray(f.valueStart, f.end), depth + 1);
    }
  };
  walk(0, buf, 0);
  return [...new Set(out)].sort((x, y) => x - y);
}

// Field paths of src/proto/wire.proto used by the tests (the wire format is part of the protocol).
export const WIRE = {
  /** E2eeMsg */
  msg: {
    version: [1],
    suiteId: [2],
    sessionId: [3],
    ratchetPublicKey: [6, 1, 1],
    ratchetKeyId: [6, 1, 2],
    kemCiphertext: [6, 1, 3],
    targetKeyId: [6, 1, 4],
    previousChainLength: [6, 1, 5],
    messageIndex: [6, 1, 6],
    ciphertext: [6, 2],
  },
  /** PreKeyBundle */
  bundle: {
    suiteId: [2],
    identitySignKey: [4, 1],
    identityKemKey: [4, 2],
    spkId: [5, 1],
    spkPublicKey: [5, 2],
    spkSignature: [5, 3],
    opkId: [6, 1],
    opkPublicKey: [6, 2],
  },
  /** InviteMsg */
  invite: {
    suiteId: [2],
    sessionId: [3],
  },
} as const;

export const asPath = (p: readonly number[]): number[] => [...p];

/**
 * Every variant of `buf` with exactly one field removed, at any nesting depth up to `maxDepth`
 * (nested messages are found by trying to parse each LEN field). `skip(path, index)` can leave out
 * repetitive parts (e.g. most entries of a long repeated field).
 */
export function pbFieldRemovals(
  buf: Uint8Array,
  maxDepth = 3,
  skip: (depth: number, fieldNo: number, index: number) => boolean = () => false,
  depth = 0,
): Array<{ path: string; bytes: Uint8Array }> {
  const out: Array<{ path: string; bytes: Uint8Array }> = [];
  let fields: PbField[];
  try {
    fields = pbParse(buf);
  } catch {
    return out;
  }
  fields.forEach((f, i) => {
    if (skip(depth, f.no, i)) return;
    out.push({ path: `${f.no}@${i}`, bytes: concatBytes(buf.subarray(0, f.start), buf.subarray(f.end)) });
    if (f.wt === 2 && depth < maxDepth) {
      for (const r of pbFieldRemovals(buf.subarray(f.valueStart, f.end), maxDepth, skip, depth + 1)) {
        out.push({
          path: `${f.no}@${i}.${r.path}`,
          bytes: concatBytes(buf.subarray(0, f.start), encodeField(f.no, { bytes: r.bytes }), buf.subarray(f.end)),
        });
      }
    }
  });
  return out;
}
