// Locates and loads the implementation under test: the built package entry dist/crypto.js
// (what `npm run bench` builds), or the development stub in bench/stub/ when it is not built yet.
// The protocol cases also load the main entry dist/index.js (it re-exports the crypto API and adds
// accounts and sessions; both entries share one bundled chunk, hence one wasm core instance).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT_DIR, BENCH_DIR } from './config.mjs';

export const DIST_ENTRY = path.join(ROOT_DIR, 'dist', 'crypto.js');
export const STUB_ENTRY = path.join(BENCH_DIR, 'stub', 'crypto.mjs');
export const PROTOCOL_ENTRY = path.join(ROOT_DIR, 'dist', 'index.js');

/** The protocol API (dist/index.js), or null and the reason it is unavailable. */
async function loadProtocol(source) {
  if (source !== 'dist') return { api: null, reason: 'the development stub has no protocol layer (build dist/ to measure it)' };
  if (!existsSync(PROTOCOL_ENTRY)) return { api: null, reason: `${path.relative(ROOT_DIR, PROTOCOL_ENTRY)} not found (run node scripts/build.mjs)` };
  try {
    const api = await import(pathToFileURL(PROTOCOL_ENTRY).href);
    if (typeof api.ready === 'function') await api.ready();
    const missing = ['Account', 'OutboundSession', 'InboundSession'].filter((k) => typeof api[k] !== 'function' && typeof api[k] !== 'object');
    if (missing.length) return { api: null, reason: `${path.relative(ROOT_DIR, PROTOCOL_ENTRY)} does not export ${missing.join(', ')}` };
    return { api, reason: null };
  } catch (err) {
    return { api: null, reason: `${err?.name ?? 'Error'}: ${err?.message ?? err}` };
  }
}

export async function loadImplementation(cfg) {
  let source = cfg.impl;
  if (source === 'auto') source = existsSync(DIST_ENTRY) ? 'dist' : 'stub';
  const file = source === 'dist' ? DIST_ENTRY : STUB_ENTRY;
  if (!existsSync(file)) throw new Error(`implementation entry not found: ${file} (run node scripts/build.mjs)`);
  const api = await import(pathToFileURL(file).href);
  if (typeof api.ready === 'function') await api.ready();
  const protocol = await loadProtocol(source);
  return {
    api,
    protocolApi: protocol.api,
    info: {
      source,
      entry: path.relative(ROOT_DIR, file),
      protocolEntry: protocol.api ? path.relative(ROOT_DIR, PROTOCOL_ENTRY) : null,
      protocolUnavailable: protocol.reason ?? undefined,
      note: source === 'stub'
        ? 'STUB: dist/crypto.js was not available; pqe2ee rows measure bench/stub (noble + node:crypto), not the wasm core'
        : undefined,
    },
  };
}
