// RFC 6962 / RFC 9162 Merkle proofs against every file of ../shared/vectors/merkle/
// (transparency-dev/merkle testdata, Apache-2.0; read at run time, never copied): each happy
// case must verify and each `wantErr` case must be rejected; the reference tree's roots at every
// size must come out of MerkleTree, and its own proofs must verify.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MerkleProofError } from '../../src/errors.js';
import { MemoryMerkleStore, MerkleTree } from '../../src/audit/merkle-tree.js';
import { leafHash, verifyConsistency, verifyInclusion } from '../../src/audit/merkle.js';
import { vectorsDir } from '../support/paths.js';

const merkleDir = path.join(vectorsDir, 'merkle');

interface InclusionVector {
  leafIdx: number;
  treeSize: number;
  root: string;
  leafHash: string;
  proof: string[] | null;
  desc: string;
  wantErr: boolean;
}
interface ConsistencyVector {
  size1: number;
  size2: number;
  root1: string;
  root2: string;
  proof: string[] | null;
  desc: string;
  wantErr: boolean;
}
interface ReferenceTree {
  leafInputsHex: string[];
  rootHexBySize: string[];
}

function jsonFiles(directory: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(directory, { withFileTypes: true })) {
    const full = path.join(directory, entry.name);
    if (entry.isDirectory()) out.push(...jsonFiles(full));
    else if (entry.name.endsWith('.json')) out.push(full);
  }
  return out.sort();
}

const b64 = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'base64'));
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const unhex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'hex'));

/** Runs `check`; returns the error it threw, or undefined. Anything but MerkleProofError fails the test. */
function outcome(check: () => void): Error | undefined {
  try {
    check();
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(MerkleProofError);
    return error as Error;
  }
}

const inclusionFiles = jsonFiles(path.join(merkleDir, 'inclusion'));
const consistencyFiles = jsonFiles(path.join(merkleDir, 'consistency'));

describe('merkle vectors (../shared/vectors/merkle)', () => {
  it('finds all 196 proof vectors and the reference tree', () => {
    expect(inclusionFiles.length + consistencyFiles.length).toBe(196);
    expect(fs.existsSync(path.join(merkleDir, 'reference-tree.json'))).toBe(true);
  });

  it.each(inclusionFiles.map((file) => [path.relative(merkleDir, file), file]))('inclusion %s', (_name, file) => {
    const v = JSON.parse(fs.readFileSync(file, 'utf8')) as InclusionVector;
    const error = outcome(() => verifyInclusion(v.leafIdx, v.treeSize, b64(v.leafHash), (v.proof ?? []).map(b64), b64(v.root)));
    if (v.wantErr) expect(error, v.desc).toBeDefined();
    else expect(error, v.desc).toBeUndefined();
  });

  it.each(consistencyFiles.map((file) => [path.relative(merkleDir, file), file]))('consistency %s', (_name, file) => {
    const v = JSON.parse(fs.readFileSync(file, 'utf8')) as ConsistencyVector;
    const error = outcome(() => verifyConsistency(v.size1, v.size2, (v.proof ?? []).map(b64), b64(v.root1), b64(v.root2)));
    if (v.wantErr) expect(error, v.desc).toBeDefined();
    else expect(error, v.desc).toBeUndefined();
  });

  it('reproduces the reference tree roots at every size, and its proofs verify', () => {
    const reference = JSON.parse(fs.readFileSync(path.join(merkleDir, 'reference-tree.json'), 'utf8')) as ReferenceTree;
    const store = new MemoryMerkleStore();
    const tree = MerkleTree.open(store, 0);
    expect(hex(tree.root())).toBe(reference.rootHexBySize[0]);
    reference.leafInputsHex.forEach((leafHex, i) => {
      store.put(tree.append(leafHash(unhex(leafHex))));
      expect(hex(tree.root()), `root at size ${i + 1}`).toBe(reference.rootHexBySize[i + 1]);
    });
    const n = reference.leafInputsHex.length;
    for (let size = 0; size <= n; size++) {
      expect(hex(tree.rootAt(size))).toBe(reference.rootHexBySize[size]);
      expect(hex(MerkleTree.open(store, size).root())).toBe(reference.rootHexBySize[size]);
      for (let index = 0; index < size; index++) {
        const leaf = leafHash(unhex(reference.leafInputsHex[index] as string));
        verifyInclusion(index, size, leaf, tree.inclusionProof(index, size), unhex(reference.rootHexBySize[size] as string));
      }
      for (let size1 = 1; size1 <= size; size1++) {
        const roots = [unhex(reference.rootHexBySize[size1] as string), unhex(reference.rootHexBySize[size] as string)] as const;
        verifyConsistency(size1, size, tree.consistencyProof(size1, size), roots[0], roots[1]);
      }
    }
  });

  it('matches the happy-path vectors proof for proof', () => {
    // The vectors were made from the reference tree, so MerkleTree must emit the very same proofs.
    const reference = JSON.parse(fs.readFileSync(path.join(merkleDir, 'reference-tree.json'), 'utf8')) as ReferenceTree;
    const store = new MemoryMerkleStore();
    const tree = MerkleTree.open(store, 0);
    for (const leafHex of reference.leafInputsHex) store.put(tree.append(leafHash(unhex(leafHex))));
    let compared = 0;
    for (const file of inclusionFiles) {
      const v = JSON.parse(fs.readFileSync(file, 'utf8')) as InclusionVector;
      if (v.wantErr || v.treeSize > tree.size || hex(b64(v.root)) !== hex(tree.rootAt(v.treeSize))) continue;
      expect(tree.inclusionProof(v.leafIdx, v.treeSize).map(hex)).toEqual((v.proof ?? []).map((p) => hex(b64(p))));
      compared++;
    }
    for (const file of consistencyFiles) {
      const v = JSON.parse(fs.readFileSync(file, 'utf8')) as ConsistencyVector;
      if (v.wantErr || v.size1 === v.size2 || v.size2 > tree.size || hex(b64(v.root2)) !== hex(tree.rootAt(v.size2))) continue;
      expect(tree.consistencyProof(v.size1, v.size2).map(hex)).toEqual((v.proof ?? []).map((p) => hex(b64(p))));
      compared++;
    }
    expect(compared).toBeGreaterThan(5);
  });
});
