// Locates and loads the implementation under test: the built package entry dist/crypto.js
// (what `npm run bench` builds). Without it the harness stops: it never measures a stand-in.
// The protocol cases also load dist/protocol.js (accounts and sessions; the entries share one
// bundled chunk, hence one wasm core instance).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT_DIR } from './config.mjs';

export const DIST_ENTRY = path.join(ROOT_DIR, 'dist', 'crypto.js');
export const PROTOCOL_ENTRY = path.join(ROOT_DIR, 'dist', 'protocol.js');

/** The protocol API (dist/protocol.js), or null and the reason it is unavailable. */
async function loadProtocol() {
  if (!existsSync(PROTOCOL_ENTRY)) return { api: null, reason: `${path.relative(ROOT_DIR, PROTOCOL_ENTRY)} not found (run node scripts/build.mjs)` };
  try {
    const api = await import(pathToFileURL(PROTOCOL_ENTRY).href);
    const missing = ['Account', 'OutboundSession', 'InboundSession'].filter((k) => typeof api[k] !== 'function' && typeof api[k] !== 'object');
    if (missing.length) return { api: null, reason: `${path.relative(ROOT_DIR, PROTOCOL_ENTRY)} does not export ${missing.join(', ')}` };
    return { api, reason: null };
  } catch (err) {
    return { api: null, reason: `${err?.name ?? 'Error'}: ${err?.message ?? err}` };
  }
}

export async function loadImplementation() {
  const source = 'dist';
  const file = DIST_ENTRY;
  if (!existsSync(file)) throw new Error(`implementation entry not found: ${file} (run node scripts/build.mjs, or npm run bench)`);
  const api = await import(pathToFileURL(file).href);
  if (typeof api.ready === 'function') await api.ready();
  const protocol = await loadProtocol();
  return {
    api,
    protocolApi: protocol.api,
    info: {
      source,
      entry: path.relative(ROOT_DIR, file),
      protocolEntry: protocol.api ? path.relative(ROOT_DIR, PROTOCOL_ENTRY) : null,
      protocolUnavailable: protocol.reason ?? undefined,
    },
  };
}
