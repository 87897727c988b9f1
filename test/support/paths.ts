// Filesystem locations the tests need: the repository root and the third-party vector directory.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/**
 * Third-party vectors live outside the repo: ../shared/vectors relative to the repo root, or
 * wherever PQE2EE_VECTORS points (a clone kept somewhere else).
 */
export const vectorsDir = process.env.PQE2EE_VECTORS ? path.resolve(process.env.PQE2EE_VECTORS) : path.resolve(repoRoot, '../shared/vectors');
export const wycheproofDir = path.join(vectorsDir, 'wycheproof');
/** This project's own committed vectors (e.g. the fixed-seed protocol transcript). */
export const ownVectorsDir = path.join(repoRoot, 'test/vectors');
