// Loads the built package (public API only). Fails with a clear message when dist/ is missing.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const DIST_INDEX = path.join(ROOT_DIR, 'dist', 'index.js');
export const DIST_CLI = path.join(ROOT_DIR, 'dist', 'cli.js');

/** Throws an Error telling to build when dist/index.js or dist/cli.js is missing. */
export function requireDist() {
  for (const file of [DIST_INDEX, DIST_CLI]) {
    if (!existsSync(file)) {
      throw new Error(`${path.relative(ROOT_DIR, file)} not found: build the package first (node scripts/build.mjs), or run npm run bench:load`);
    }
  }
}

/** The package's main entry (createClient, createServerTransport, ...) and Account from pqe2ee/protocol. */
export async function loadPackage() {
  requireDist();
  const root = await import(pathToFileURL(DIST_INDEX).href);
  const protocol = await import(pathToFileURL(path.join(ROOT_DIR, 'dist', 'protocol.js')).href);
  return { ...protocol, ...root };
}
