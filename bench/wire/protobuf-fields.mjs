// Where the bytes of a serialized protobuf message go: a minimal reader of the protobuf wire format
// (tag varint, then a varint, a fixed 32/64-bit value or a length-delimited body) that charges each
// top-level field its whole encoding (tag + length prefix + body). Used only to label the byte
// counts of the wire rows (E2eeMsg = header fields + ciphertext, …); it never checks meaning.

function varint(buf, pos) {
  let value = 0;
  let shift = 0;
  for (;;) {
    const b = buf[pos++];
    if (b === undefined) throw new Error('truncated varint');
    value += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return { value, pos };
    shift += 7;
  }
}

/** [{ field, start, end, body? }] for each top-level field; `body` spans a length-delimited payload. */
export function fields(buf) {
  const out = [];
  let pos = 0;
  while (pos < buf.length) {
    const start = pos;
    const tag = varint(buf, pos);
    pos = tag.pos;
    const field = Math.floor(tag.value / 8);
    const type = tag.value & 7;
    let body;
    if (type === 0) pos = varint(buf, pos).pos;
    else if (type === 1) pos += 8;
    else if (type === 5) pos += 4;
    else if (type === 2) {
      const len = varint(buf, pos);
      body = buf.subarray(len.pos, len.pos + len.value);
      pos = len.pos + len.value;
    } else throw new Error(`unsupported wire type ${type}`);
    out.push({ field, bytes: pos - start, body });
  }
  return out;
}

/**
 * Bytes per named field; `schema` maps field numbers to a name, or to [name, subschema] to descend
 * into a nested message (its fields are reported as "name.sub"; the nested tag and length prefix as
 * "name (framing)"). Unnamed fields are reported by number.
 */
export function breakdown(buf, schema, prefix = '') {
  const out = {};
  for (const f of fields(buf)) {
    const entry = schema[f.field] ?? `field${f.field}`;
    if (Array.isArray(entry) && f.body) {
      const [name, sub] = entry;
      out[`${prefix}${name} (framing)`] = (out[`${prefix}${name} (framing)`] ?? 0) + f.bytes - f.body.length;
      Object.assign(out, breakdown(f.body, sub, `${prefix}${name}.`));
    } else {
      const name = `${prefix}${Array.isArray(entry) ? entry[0] : entry}`;
      out[name] = (out[name] ?? 0) + f.bytes;
    }
  }
  return out;
}

// Field numbers of src/proto/wire.proto (E2eeMsg and what it carries), for the labels above.
const ONE2ONE = { 2: 'ciphertext', 3: 'epoch', 4: 'message_index', 5: 'epoch_chunk', 6: 'previous_chain_length', 7: 'one_way_step', 8: 'one_way_chunk' };
const GROUP_SENDER_KEY = { 1: 'public_key', 2: 'identity_signature', 3: 'previous_epoch', 4: 'previous_epoch_messages' };
const GROUP = { 2: 'epoch', 4: 'message_index', 5: 'ciphertext', 6: 'signature', 7: 'member_index', 8: ['sender_key', GROUP_SENDER_KEY] };
export const E2EE_MSG = { 1: 'version', 2: 'suite_id', 3: 'session_id', 4: 'from', 5: 'to', 6: ['one2one', ONE2ONE], 7: ['group', GROUP], 8: 'session_tag' };

// libsignal's messages are a version byte, a protobuf body and a trailer (SignalMessage: an 8-byte
// MAC; SenderKeyMessage: a 64-byte XEdDSA signature; PreKeySignalMessage: none, its field 4 is the
// inner SignalMessage). Field numbers from libsignal's wire.proto.
const SIGNAL = { 1: 'ratchet_key', 2: 'counter', 3: 'previous_counter', 4: 'ciphertext', 5: 'pq_ratchet' };
const PRE_KEY_SIGNAL = {
  1: 'pre_key_id',
  2: 'base_key',
  3: 'identity_key',
  4: 'message',
  5: 'registration_id',
  6: 'signed_pre_key_id',
  7: 'kyber_pre_key_id',
  8: 'kyber_ciphertext',
};
const SENDER_KEY = { 1: 'distribution_uuid', 2: 'chain_id', 3: 'iteration', 4: 'ciphertext' };
const TRAILERS = { 2: ['mac', 8, SIGNAL], 3: ['', 0, PRE_KEY_SIGNAL], 7: ['signature', 64, SENDER_KEY] };

/** Bytes per field of a serialized libsignal CiphertextMessage of `type` (2, 3 or 7). */
export function libsignalBreakdown(type, buf) {
  const [trailer, n, schema] = TRAILERS[type];
  const out = { version: 1, ...breakdown(buf.subarray(1, buf.length - n), schema) };
  if (n) out[trailer] = n;
  return out;
}
