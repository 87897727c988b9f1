// Builds the npm package into dist/: ESM bundles (esbuild) for `pqe2ee` and `pqe2ee/crypto`, with
// the wasm core embedded, plus type declarations (tsc). Platform-neutral: the same files load in
// Node and in browsers/bundlers.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildCli, nodeBundleOptions } from './build-cli.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });

// Declarations first: a type error stops the build before any bundle is written.
execFileSync(join(root, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });

await build({
  absWorkingDir: root,
  entryPoints: { index: 'src/index.ts', crypto: 'src/crypto/index.ts', protocol: 'src/protocol/index.ts' },
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  sourcemap: true,
  legalComments: 'none',
  logLevel: 'warning',
});

// Node-only entry (SQLite handler, reference server).
await build(nodeBundleOptions({ node: 'src/node.ts' }));
await buildCli();

writeFileSync(join(dist, 'index.d.ts'), "export * from './types/src/index.js';\n");
writeFileSync(join(dist, 'crypto.d.ts'), "export * from './types/src/crypto/index.js';\n");
writeFileSync(join(dist, 'protocol.d.ts'), "export * from './types/src/protocol/index.js';\n");
writeFileSync(join(dist, 'node.d.ts'), "export * from './types/src/node.js';\n");
console.log('build: dist/index.js, dist/crypto.js, dist/protocol.js and declarations written');
