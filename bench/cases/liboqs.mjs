// Peer: @oqs/liboqs-js (liboqs compiled to wasm by Emscripten) — ML-KEM-1024/768, ML-DSA-87/65.
// The package declares engines node >= 22; on older Node a load failure is recorded, not fatal.
import { caseFactory } from './case.mjs';
import { equalBytes as eq } from '../inputs.mjs';

export const PEER = '@oqs/liboqs-js';

export async function load(inp) {
  const oqs = await import('@oqs/liboqs-js');
  const c = caseFactory(PEER);
  const out = [];
  const notes = [];
  const kems = [
    ['mlkem1024', 'createMLKEM1024'],
    ['mlkem768', 'createMLKEM768'],
  ];
  const sigs = [
    ['mldsa87', 'createMLDSA87'],
    ['mldsa65', 'createMLDSA65'],
  ];
  // Instances are created once (the documented usage); their wasm memory lives for the run.
  for (const [name, factory] of kems) {
    if (typeof oqs[factory] !== 'function') {
      notes.push(`${factory} not offered`);
      continue;
    }
    const k = await oqs[factory]();
    const f = inp[name];
    out.push(
      c(`${name}.keygen`, () => k.generateKeyPair(), { check: () => k.generateKeyPair().publicKey.length === f.publicKey.length }),
      c(`${name}.encaps`, () => k.encapsulate(f.publicKey), {
        check: () => {
          const r = k.encapsulate(f.publicKey);
          return eq(k.decapsulate(r.ciphertext, f.secretKey), r.sharedSecret);
        },
      }),
      c(`${name}.decaps`, () => k.decapsulate(f.ciphertext, f.secretKey), { check: () => eq(k.decapsulate(f.ciphertext, f.secretKey), f.sharedSecret) }),
    );
  }
  for (const [name, factory] of sigs) {
    if (typeof oqs[factory] !== 'function') {
      notes.push(`${factory} not offered`);
      continue;
    }
    const s = await oqs[factory]();
    const f = inp[name];
    out.push(
      c(`${name}.keygen`, () => s.generateKeyPair(), { check: () => s.generateKeyPair().publicKey.length === f.publicKey.length }),
      c(`${name}.sign`, () => s.sign(f.message, f.secretKey), {
        bytes: f.message.length,
        check: () => s.verify(f.message, s.sign(f.message, f.secretKey), f.publicKey),
      }),
      c(`${name}.verify`, () => s.verify(f.message, f.signature, f.publicKey), {
        bytes: f.message.length,
        check: () => s.verify(f.message, f.signature, f.publicKey) === true,
      }),
    );
  }
  return { cases: out, notes };
}
