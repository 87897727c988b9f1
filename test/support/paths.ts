// Filesystem locations the tests need: the repository root and the third-party vector directory.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** Third-party vectors live outside the repo: ../shared/vectors relative to the repo root. */
export const vectorsDir = path.resolve(repoRoot, '../shared/vectors');
export const wycheproofDir = path.join(vectorsDir, 'wycheproof');
/** This project's own committed vectors (e.g. the fixed-seed protocol transcript). */
export const ownVectorsDir = path.join(repoRoot, 'test/vectors');
