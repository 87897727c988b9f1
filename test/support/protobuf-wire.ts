// A minimal independent protobuf wire-format reader/writer (proto3 binary encoding), used to locate
// and edit fields of src/proto/wire.proto messages without the project's generated code.
import { concatBytes } from './bytes.js';

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
    const f = pbParse(cur)
      .filter((x) => x.no === path[depth])
      .pop();
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
    sessionTag: [8],
    ciphertext: [6, 2],
    epoch: [6, 3],
    messageIndex: [6, 4],
    epochChunk: [6, 5],
    previousChainLength: [6, 6],
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
