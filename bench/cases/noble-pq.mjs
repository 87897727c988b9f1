// Peer: @noble/post-quantum (pure JS) — ML-KEM-1024/768, ML-DSA-87/65, X-Wing.
import { caseFactory } from './case.mjs';
import { equalBytes as eq } from '../inputs.mjs';

export const PEER = '@noble/post-quantum';

export async function load(inp) {
  const { ml_kem1024, ml_kem768 } = await import('@noble/post-quantum/ml-kem.js');
  const { ml_dsa87, ml_dsa65 } = await import('@noble/post-quantum/ml-dsa.js');
  // noble's ml_kem768_x25519 is X-Wing (draft-connolly-cfrg-xwing-kem)
  const { ml_kem768_x25519 } = await import('@noble/post-quantum/hybrid.js');
  const c = caseFactory(PEER);
  const out = [];
  for (const [name, k] of [
    ['mlkem1024', ml_kem1024],
    ['mlkem768', ml_kem768],
    ['xwing', ml_kem768_x25519],
  ]) {
    const f = inp[name];
    out.push(
      c(`${name}.keygen`, () => k.keygen(), { check: () => k.keygen().publicKey.length === f.publicKey.length }),
      c(`${name}.encaps`, () => k.encapsulate(f.publicKey), {
        check: () => {
          const r = k.encapsulate(f.publicKey);
          return eq(k.decapsulate(r.cipherText, f.secretKey), r.sharedSecret);
        },
      }),
      c(`${name}.decaps`, () => k.decapsulate(f.ciphertext, f.secretKey), { check: () => eq(k.decapsulate(f.ciphertext, f.secretKey), f.sharedSecret) }),
    );
  }
  for (const [name, s] of [
    ['mldsa87', ml_dsa87],
    ['mldsa65', ml_dsa65],
  ]) {
    const f = inp[name];
    out.push(
      c(`${name}.keygen`, () => s.keygen(), { check: () => s.keygen().publicKey.length === f.publicKey.length }),
      // hedged signing (fresh randomness), like pqe2ee's sign()
      c(`${name}.sign`, () => s.sign(f.message, f.secretKey), {
        bytes: f.message.length,
        check: () => s.verify(s.sign(f.message, f.secretKey), f.message, f.publicKey),
      }),
      c(`${name}.verify`, () => s.verify(f.signature, f.message, f.publicKey), {
        bytes: f.message.length,
        check: () => s.verify(f.signature, f.message, f.publicKey) === true,
      }),
    );
  }
  return out;
}
