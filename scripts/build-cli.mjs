// Bundles the `pqe2ee` command (src/cli/main.ts) for Node into dist/cli.js. Used by the package
// build and by the test setup (tests start the real server as a separate process).
import { build } from 'esbuild';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Writes dist/cli.js (and its source map); better-sqlite3 stays an import resolved at run time. */
export async function buildCli() {
  await build({
    absWorkingDir: root,
    entryPoints: { cli: 'src/cli/main.ts' },
    outdir: 'dist',
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    sourcemap: true,
    legalComments: 'none',
    logLevel: 'warning',
    external: ['better-sqlite3'],
    banner: { js: '#!/usr/bin/env node' },
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await buildCli();
  console.log('build-cli: dist/cli.js written');
}
