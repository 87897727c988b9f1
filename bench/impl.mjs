// Locates and loads the implementation under test: the built package entry dist/crypto.js
// (what `npm run bench` builds), or the development stub in bench/stub/ when it is not built yet.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT_DIR, BENCH_DIR } from './config.mjs';

export const DIST_ENTRY = path.join(ROOT_DIR, 'dist', 'crypto.js');
export const STUB_ENTRY = path.join(BENCH_DIR, 'stub', 'crypto.mjs');

export async function loadImplementation(cfg) {
  let source = cfg.impl;
  if (source === 'auto') source = existsSync(DIST_ENTRY) ? 'dist' : 'stub';
  const file = source === 'dist' ? DIST_ENTRY : STUB_ENTRY;
  if (!existsSync(file)) throw new Error(`implementation entry not found: ${file} (run node scripts/build.mjs)`);
  const api = await import(pathToFileURL(file).href);
  if (typeof api.ready === 'function') await api.ready();
  return {
    api,
    info: {
      source,
      entry: path.relative(ROOT_DIR, file),
      note: source === 'stub'
        ? 'STUB: dist/crypto.js was not available; pqe2ee rows measure bench/stub (noble + node:crypto), not the wasm core'
        : undefined,
    },
  };
}
