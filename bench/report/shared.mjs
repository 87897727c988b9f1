// Helpers shared by the report writers.
import { OURS } from '../cases/case.mjs';

export const shortPeer = (p) =>
  ({ '@noble/post-quantum': 'noble-pq', '@oqs/liboqs-js': 'liboqs', 'node:crypto': 'node', WebCrypto: 'WebCrypto', '@noble/ciphers': 'noble-ciphers', '@noble/hashes': 'noble-hashes', '@noble/curves': 'noble-curves' })[p] ?? p;

/** Rows of the implementation under test, in run order, each joined with its ratio (if any). */
export function ourRowsWithRatios(results) {
  const byId = new Map(results.ratios.map((r) => [r.id, r]));
  return results.rows.filter((r) => r.impl === OURS).map((r) => ({ row: r, ratio: byId.get(r.op) }));
}

export const peerRows = (results) => results.rows.filter((r) => r.impl !== OURS);

export const targetMeasured = (t, fmtRatio, fmtKB) =>
  t.measured == null ? '—' : t.kind === 'ratio' ? fmtRatio(t.measured) : t.kind === 'size' ? `${fmtKB(t.measured)} (${t.measured.toLocaleString('en-US')} B)` : `${t.measured.toFixed(1)} ms`;

export const passText = (t) => (t.pass == null ? 'n/a' : t.pass ? (t.aimMet === false ? 'PASS (aim missed)' : 'PASS') : 'FAIL');
