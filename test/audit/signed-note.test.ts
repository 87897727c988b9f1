// C2SP signed notes: the Go sumdb/note published example (Ed25519, deterministic, so our signer must
// reproduce it byte for byte), key IDs recomputed with node:crypto, our ML-DSA-87 and hybrid note
// keys, strict parsing, and every way a tampered note must fail.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { base64Decode, base64Encode } from '../../src/audit/base64.js';
import { CheckpointFormatError, NoteSignatureError } from '../../src/errors.js';
import {
  decodeNoteBytes,
  formatVerifierKey,
  NOTE_SIGNATURE_TYPES,
  noteKeyId,
  noteSigner,
  noteVerifier,
  openNote,
  parseNote,
  parseVerifierKey,
  signNote,
} from '../../src/audit/signed-note.js';
import { getSuite } from '../../src/crypto/index.js';

// The example of golang.org/x/mod/sumdb/note (package documentation): a published interop vector.
const GO_VERIFIER_KEY = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const GO_SIGNER_SEED = 'AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz'; // 0x01 ‖ Ed25519 seed
const GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const GO_NOTE = `${GO_TEXT}\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n`;

const keyIdByNodeCrypto = (name: string, type: Uint8Array, publicKey: Uint8Array): number =>
  createHash('sha256')
    .update(name)
    .update(new Uint8Array([0x0a]))
    .update(type)
    .update(publicKey)
    .digest()
    .readUInt32BE(0);

function keyPair(suiteId: 1 | 2 | 3, seedByte: number): { publicKey: Uint8Array; secretKey: Uint8Array } {
  const suite = getSuite(suiteId);
  return suite.sig.keygenFromSeed(new Uint8Array(suite.params.sigSeedBytes).fill(seedByte));
}

describe('signed notes (c2sp.org/signed-note)', () => {
  it('opens the Go sumdb/note example and reproduces its signature byte for byte', () => {
    const verifier = parseVerifierKey(GO_VERIFIER_KEY);
    expect(verifier.suiteId).toBe(2);
    expect(verifier.keyId).toBe(0xc74f20a3);
    expect(openNote(GO_NOTE, [verifier])).toEqual({ text: GO_TEXT, verifiedBy: ['PeterNeumann'] });
    const seed = base64Decode(GO_SIGNER_SEED, 'seed');
    expect(seed[0]).toBe(0x01);
    const pair = getSuite(2).sig.keygenFromSeed(seed.slice(1));
    expect(signNote(GO_TEXT, [noteSigner(2, 'PeterNeumann', pair)])).toBe(GO_NOTE);
    expect(formatVerifierKey(verifier)).toBe(GO_VERIFIER_KEY);
    expect(() => openNote(GO_NOTE.replace('cryptography', 'cryptographY'), [verifier])).toThrow(NoteSignatureError);
  });

  it('computes key IDs as SHA-256(name ‖ 0x0A ‖ type ‖ public key)[:4], with 0xff-escaped types for ML-DSA-87 and the hybrid', () => {
    expect(NOTE_SIGNATURE_TYPES[1][0]).toBe(0xff);
    expect(new TextDecoder().decode(NOTE_SIGNATURE_TYPES[1].slice(1))).toBe('pqe2ee/v1/ML-DSA-87');
    expect([...NOTE_SIGNATURE_TYPES[2]]).toEqual([0x01]);
    expect(new TextDecoder().decode(NOTE_SIGNATURE_TYPES[3].slice(1))).toBe('pqe2ee/v1/ML-DSA-65+Ed25519');
    for (const suiteId of [1, 2, 3] as const) {
      const { publicKey } = keyPair(suiteId, 3);
      expect(noteKeyId('log.example/audit', suiteId, publicKey)).toBe(keyIdByNodeCrypto('log.example/audit', NOTE_SIGNATURE_TYPES[suiteId], publicKey));
    }
  });

  it.each([1, 2, 3] as const)('signs and opens with suite %i, and rejects tampering', (suiteId) => {
    const signer = noteSigner(suiteId, 'log.example/audit', keyPair(suiteId, 1));
    const text = 'hello\n\nworld\n';
    const note = signNote(text, [signer]);
    expect(openNote(note, [signer])).toEqual({ text, verifiedBy: ['log.example/audit'] });
    const verifier = parseVerifierKey(formatVerifierKey(signer));
    expect(openNote(note, [verifier]).text).toBe(text);

    // The text changed: the known key's signature fails.
    expect(() => openNote(note.replace('world', 'World'), [verifier])).toThrow(NoteSignatureError);
    // A signature bit flipped (after the 4-byte key ID, so the key still matches).
    const { signatures } = parseNote(note);
    const blob = new Uint8Array([0, 0, 0, 0, ...(signatures[0]?.signature ?? [])]);
    new DataView(blob.buffer).setUint32(0, signer.keyId);
    blob[10] = (blob[10] as number) ^ 0x01;
    const forged = `${text}\n— log.example/audit ${base64Encode(blob)}\n`;
    expect(() => openNote(forged, [verifier])).toThrow(NoteSignatureError);
    // Another key under the same name, or the same key under another name: unknown, so no valid signature.
    const other = noteVerifier(suiteId, 'log.example/audit', keyPair(suiteId, 2).publicKey);
    expect(() => openNote(note, [other])).toThrow(NoteSignatureError);
    expect(() => openNote(note, [noteVerifier(suiteId, 'other.example/audit', signer.publicKey)])).toThrow(NoteSignatureError);
  });

  it('ignores lines of unknown keys, but a failing known key rejects the note', () => {
    const known = noteSigner(2, 'known.example', keyPair(2, 5));
    const unknown = noteSigner(2, 'unknown.example', keyPair(2, 6));
    const note = signNote('text\n', [unknown, known]);
    expect(openNote(note, [known]).verifiedBy).toEqual(['known.example']);
    const impostor = noteSigner(2, 'known.example', keyPair(2, 7));
    const signedByImpostor = signNote('text\n', [impostor]);
    // The impostor has another key ID: its line is unknown, so nothing verifies.
    expect(() => openNote(signedByImpostor, [known])).toThrow(NoteSignatureError);
    // Same name and key ID but a wrong signature (the line of `known` copied onto another text).
    const knownLine = note.split('\n').find((line) => line.includes('known.example') && !line.includes('unknown')) as string;
    const goodOther = signNote('other\n', [unknown]);
    expect(openNote(goodOther, [known, unknown]).verifiedBy).toEqual(['unknown.example']);
    expect(() => openNote(`${goodOther}${knownLine}\n`, [known, unknown])).toThrow(NoteSignatureError);
  });

  it('parses strictly', () => {
    const signer = noteSigner(2, 'a.example', keyPair(2, 8));
    const note = signNote('line\n', [signer]);
    const bad = [
      note.slice(0, -1), // no final newline
      note.replace('\n\n', '\n'), // no blank line
      note.replace('— ', '-- '), // not an em dash
      note.replace('— ', '—'), // no space after the dash
      note.replace('a.example ', 'a.example  '), // double space
      note.replace('a.example', 'a+example'), // '+' in the name
      note.replace('a.example', 'a\u00a0example'), // a Unicode space in the name
      note.replace('line', 'li\rne'), // a control character
      note.replace('line', 'li\tne'),
      `${note.slice(0, -2)}!\n`, // base64 broken
      `${note}\n`, // a trailing blank line
      'line\n\n— a.example AAAA\n', // signature too short (4 bytes: a key ID only)
      'line\n\n', // no signature line
      `${'line\n'}\n${Array.from({ length: 101 }, () => note.split('\n\n')[1]).join('')}`, // too many signatures
    ];
    for (const text of bad) expect(() => parseNote(text), JSON.stringify(text.slice(0, 80))).toThrow(CheckpointFormatError);
    expect(() => decodeNoteBytes(new Uint8Array([0x6c, 0xff, 0x0a]))).toThrow(CheckpointFormatError);
    expect(decodeNoteBytes(new TextEncoder().encode(note))).toBe(note);
    expect(() => signNote('no newline', [signer])).toThrow(CheckpointFormatError);
    expect(() => noteSigner(2, 'bad name', keyPair(2, 8))).toThrow(CheckpointFormatError);
    expect(() => parseVerifierKey(GO_VERIFIER_KEY.replace('c74f20a3', 'c74f20a4'))).toThrow(CheckpointFormatError);
    expect(() => parseVerifierKey(GO_VERIFIER_KEY.replace('+AR', '+BR'))).toThrow(CheckpointFormatError);
  });

  it('base64 is canonical: one spelling per value', () => {
    expect(base64Encode(new Uint8Array([0xfb, 0xff]))).toBe(Buffer.from([0xfb, 0xff]).toString('base64'));
    for (let length = 0; length < 10; length++) {
      const bytes = Uint8Array.from({ length }, (_, i) => (i * 97 + 13) & 0xff);
      const text = base64Encode(bytes);
      expect(text).toBe(Buffer.from(bytes).toString('base64'));
      expect(base64Decode(text, 'x')).toEqual(bytes);
    }
    for (const text of ['QQ', 'QR==', 'QUI', 'QUJ=', 'Q===', '====', 'QU I=', 'QUI=\n', 'QUI-', 'QUI_']) {
      expect(() => base64Decode(text, 'x'), text).toThrow(CheckpointFormatError);
    }
  });
});
