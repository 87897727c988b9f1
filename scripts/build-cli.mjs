// Bundles the `pqe2ee` command (src/cli/main.ts) for Node into dist/cli.js. Used by the package
// build and by the test setup (tests start the real server as a separate process).
import { build } from 'esbuild';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** esbuild options of the Node-only bundles (the CLI and `pqe2ee/node`). */
export function nodeBundleOptions(entryPoints) {
  return {
    absWorkingDir: root,
    entryPoints,
    outdir: 'dist',
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    sourcemap: true,
    legalComments: 'none',
    logLevel: 'warning',
    // A native addon: resolved from node_modules at run time, never bundled.
    external: ['better-sqlite3'],
  };
}

/** Writes dist/cli.js (and its source map). */
export async function buildCli() {
  await build({ ...nodeBundleOptions({ cli: 'src/cli/main.ts' }), banner: { js: '#!/usr/bin/env node' } });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await buildCli();
  console.log('build-cli: dist/cli.js written');
}
