// Ratios of pqe2ee to its peers, from rows measured in the same run. ratio = our ops/s divided by
// the peer's ops/s for the same operation (> 1 means pqe2ee is faster). `rme` is the combined
// relative margin of error of the two measurements (root of the sum of squares), in percent.
import { OURS } from './cases/case.mjs';

const ok = (r) => r && r.opsPerSec != null && !r.error;
const combinedRme = (a, b) => Math.sqrt((a.rme ?? 0) ** 2 + (b.rme ?? 0) ** 2);

export function computeRatios(rows) {
  const peersByOp = new Map();
  for (const r of rows) {
    if (!ok(r) || r.impl === OURS) continue;
    if (!peersByOp.has(r.op)) peersByOp.set(r.op, []);
    peersByOp.get(r.op).push(r);
  }
  const out = [];
  for (const r of rows) {
    if (!ok(r) || r.impl !== OURS) continue;
    const peers = peersByOp.get(r.compareTo) ?? [];
    if (peers.length === 0) continue;
    const perPeer = {};
    for (const p of peers) perPeer[p.impl] = { opsPerSec: p.opsPerSec, ratio: r.opsPerSec / p.opsPerSec, rme: combinedRme(r, p) };
    const best = peers.reduce((a, b) => (b.opsPerSec > a.opsPerSec ? b : a));
    out.push({
      id: r.op,
      comparedTo: r.compareTo,
      opsPerSec: r.opsPerSec,
      bytes: r.bytes,
      best: { peer: best.impl, opsPerSec: best.opsPerSec, ratio: r.opsPerSec / best.opsPerSec, rme: combinedRme(r, best) },
      perPeer,
    });
  }
  return out;
}

/** Ratio of our row `ourOp` to `peer` for the compared operation, or a reason why there is none. */
export function ratioTo(ratios, ourOp, peer) {
  const r = ratios.find((x) => x.id === ourOp);
  if (!r) return { reason: `row ${ourOp} not measured` };
  const p = r.perPeer[peer];
  if (!p) return { reason: `${peer} has no ${r.comparedTo} row` };
  return p;
}
