// Temporary directories for SQLite files, removed after the suite.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

/** A fresh temp directory (removed after all tests of the calling file) and a counter for file names. */
export function useTempDir(prefix: string): { dir: string; nextPath: () => string } {
  const dir = mkdtempSync(join(tmpdir(), `pqe2ee-${prefix}-`));
  let counter = 0;
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return { dir, nextPath: () => join(dir, `db-${++counter}.sqlite`) };
}
