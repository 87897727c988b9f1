// Helpers shared by the report writers.
import { OURS } from '../cases/case.mjs';
import { fmtOps, fmtBytes } from '../format.mjs';
import { isContended } from '../contention.mjs';

export const shortPeer = (p) =>
  ({
    '@noble/post-quantum': 'noble-pq',
    '@oqs/liboqs-js': 'liboqs',
    'node:crypto': 'node',
    WebCrypto: 'WebCrypto',
    '@noble/ciphers': 'noble-ciphers',
    '@noble/hashes': 'noble-hashes',
    '@noble/curves': 'noble-curves',
  })[p] ?? p;

/** Rows of the implementation under test, in run order, each joined with its ratio (if any). */
export function ourRowsWithRatios(results) {
  const byId = new Map(results.ratios.map((r) => [r.id, r]));
  return results.rows.filter((r) => r.impl === OURS).map((r) => ({ row: r, ratio: byId.get(r.op) }));
}

export const peerRows = (results) => results.rows.filter((r) => r.impl !== OURS);

export const targetMeasured = (t, fmtRatio, fmtKB) =>
  t.measured == null
    ? '—'
    : t.kind === 'ratio'
      ? fmtRatio(t.measured)
      : t.kind === 'size'
        ? `${fmtKB(t.measured)} (${t.measured.toLocaleString('en-US')} B)`
        : t.kind === 'rate'
          ? `${fmtOps(t.measured)} ops/s`
          : `${t.measured.toFixed(1)} ms`;

/**
 * The "Protocol" table (ops/s per suite and wire sizes), shared by the console and markdown
 * writers: { headers, rows, align, notes } or null when the run has no protocol section.
 * `rme` formats a row's ± (each writer has its own style).
 */
export function protocolTable(results) {
  const p = results.protocol;
  if (!p?.available) return null;
  const ours = new Map(results.rows.filter((r) => r.impl === OURS).map((r) => [r.op, r]));
  const rate = (op) => {
    const r = ours.get(op);
    if (!r) return '—';
    if (r.error) return 'ERROR';
    return `${fmtOps(r.opsPerSec)}${r.rme != null ? ` ±${r.rme.toFixed(0)}%` : ''}${isContended(r) ? ' †' : ''}`;
  };
  const n = p.plaintextBytes;
  const rows = p.wire.map((w) => [
    `suite ${w.suite} (${w.kemName}, ${w.sigName})`,
    rate(`protocol.suite${w.suite}.setup`),
    rate(`protocol.suite${w.suite}.encrypt.${n}B`),
    rate(`protocol.suite${w.suite}.decrypt.${n}B`),
    rate(`protocol.suite${w.suite}.roundtrip.${n}B`),
    `${fmtBytes(w.invite)} (${fmtBytes(w.inviteNoOpk)} w/o OPK)`,
    fmtBytes(w.accept),
    w.msgOverheadMin === w.msgOverheadMax ? fmtBytes(w.msgOverheadFirst) : `${fmtBytes(w.msgOverheadFirst)} (${fmtBytes(w.msgOverheadMin)}–${fmtBytes(w.msgOverheadMax)})`,
  ]);
  const ref = p.reference;
  if (ref) rows.push([`${ref.label}: ${ref.source.toUpperCase()}`, `~${fmtOps(ref.setup)}`, `~${fmtOps(ref.encrypt)}`, `~${fmtOps(ref.decrypt)}`, '—', '—', '—', '—']);
  return {
    headers: ['suite', 'setup/s', `encrypt/s (${n} B)`, `decrypt/s (${n} B)`, 'roundtrip/s', 'invite B', 'accept B', `E2eeMsg − ${n} B`],
    rows,
    align: ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    notes: [
      `setup: one session per op, OutboundSession.initiate → InboundSession.accept → complete → first ${n} B message encrypted and decrypted; ` +
        'pre-key bundles WITHOUT a one-time pre-key (Bob has only 100 OPKs and accept consumes one; with an OPK, initiate does one more ' +
        'KEM encaps and accept one more decaps, otherwise the same work); account creation not included.',
      'encrypt: steady sending chain (self-steps every 512 messages, included). decrypt: in-order messages of a steady chain, ' +
        'pre-generated outside the timed loop (a message decrypts only once). roundtrip: A→B then B→A, every message starts a ' +
        'new ratchet step (KEM keygen + encaps, decaps).',
      `wire sizes (bytes, not timed): serialized InviteMsg (with an OPK; without), AcceptMsg, and E2eeMsg minus the ${n}-byte plaintext ` +
        'for the first message of a session (range over a 512-message chain and the next one: varint fields grow).',
      ...(ref ? [`${ref.label}: ${ref.source}; no libsignal code runs in this harness.`] : []),
    ],
  };
}

export const passText = (t) => (t.pass == null ? 'n/a' : t.pass ? (t.aimMet === false ? 'PASS (aim missed)' : 'PASS') : 'FAIL');
