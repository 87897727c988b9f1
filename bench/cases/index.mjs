// Collects the cases of the implementation under test and of every peer. A peer that fails to
// load is recorded (name + reason) and the run continues without it; so are the protocol cases
// when the protocol API (dist/protocol.js) is unavailable or cannot set up its sessions.
import { pqe2eeCases } from './pqe2ee.mjs';
import { protocolCases } from './protocol.mjs';
import * as noblePq from './noble-pq.mjs';
import * as liboqs from './liboqs.mjs';
import * as nodeCrypto from './node-crypto.mjs';
import * as webcrypto from './webcrypto.mjs';
import * as nobleCiphers from './noble-ciphers.mjs';
import * as nobleHashes from './noble-hashes.mjs';
import * as nobleCurves from './noble-curves.mjs';

export const PEER_MODULES = [noblePq, liboqs, nodeCrypto, webcrypto, nobleCiphers, nobleHashes, nobleCurves];

export async function collectCases(api, inputs, protocolApi, protocolUnavailable) {
  const peers = [];
  const cases = pqe2eeCases(api, inputs);
  cases.push(...(await import('./group.mjs').then((m) => m.groupCases(api)))); // group sessions: bench/cases/group.mjs
  let protocol = { available: false, reason: protocolUnavailable ?? 'protocol API not loaded' };
  if (protocolApi) {
    try {
      const r = protocolCases(protocolApi);
      cases.push(...r.cases);
      protocol = r.info;
    } catch (err) {
      protocol = { available: false, reason: `setting up the protocol cases failed: ${err?.name ?? 'Error'}: ${err?.message ?? err}` };
    }
  }
  for (const mod of PEER_MODULES) {
    try {
      const r = await mod.load(inputs);
      const list = Array.isArray(r) ? r : r.cases;
      cases.push(...list);
      peers.push({ name: mod.PEER, available: true, cases: list.length, notes: Array.isArray(r) ? [] : (r.notes ?? []) });
    } catch (err) {
      peers.push({ name: mod.PEER, available: false, reason: `${err?.name ?? 'Error'}: ${err?.message ?? err}`, cases: 0, notes: [] });
    }
  }
  return { cases, peers, protocol };
}
