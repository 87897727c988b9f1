// Loads what the wire rows measure. pqe2ee comes from the built package (dist/: the protocol entry
// for the protocol rows, the main and node entries for the client-runtime rows); without dist/ the
// run stops, it never measures a stand-in. libsignal is optional: if its native binding cannot be
// loaded on this machine the reason is reported and only the pqe2ee rows are produced.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { ROOT_DIR } from '../config.mjs';

const entry = (name) => path.join(ROOT_DIR, 'dist', name);

export async function loadPqe2ee() {
  const file = entry('protocol.js');
  if (!existsSync(file)) throw new Error('dist/protocol.js not found: run node scripts/build.mjs (npm run bench:wire builds it)');
  const P = await import(pathToFileURL(file).href);
  await P.ready();
  let runtime = null;
  let runtimeUnavailable = null;
  try {
    const I = await import(pathToFileURL(entry('index.js')).href);
    const N = await import(pathToFileURL(entry('node.js')).href);
    runtime = { I, N };
  } catch (err) {
    runtimeUnavailable = `${err?.name ?? 'Error'}: ${err?.message ?? err}`;
  }
  const pkg = JSON.parse(readFileSync(path.join(ROOT_DIR, 'package.json'), 'utf8'));
  return { P, runtime, runtimeUnavailable, version: pkg.version };
}

export async function loadLibsignal() {
  const name = '@signalapp/libsignal-client';
  try {
    const S = await import(name);
    // Touch the native library: importing only loads the JS wrapper.
    S.PrivateKey.generate();
    const require = createRequire(import.meta.url);
    const version = JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8')).version;
    return { S, version, reason: null };
  } catch (err) {
    // One line: the reason goes into the header line of the report.
    const message = String(err?.message ?? err)
      .replace(/\s+/g, ' ')
      .trim();
    return { S: null, version: null, reason: `${err?.name ?? 'Error'}: ${message}` };
  }
}
