import { it } from 'vitest';
import { Session } from '../../src/index.js';
import { establish, flipBit, utf8, describeError, equalBytes, hex } from './helpers.js';
it('dbg', () => {
  for (const suite of [1, 2, 3] as const) {
    const { a, b } = establish(suite);
    b.decrypt(a.encrypt(utf8('s1'))); a.decrypt(b.encrypt(utf8('s2')));
    const w = a.encrypt(utf8('flip me'));
    console.log(suite, 'prefix', hex(w.subarray(0, 48)));
    const snap = b.serialize();
    for (let i = 0; i < w.length; i++) for (let bit = 0; bit < 8; bit++) {
      const s = Session.deserialize(snap);
      let r = 'ok';
      try { const p = s.decrypt(flipBit(w, i, bit)); r = equalBytes(p, utf8('flip me')) ? 'SAME' : 'DIFFERENT'; } catch (e) { if (!(e as any).code) r = describeError(e); else continue; }
      console.log(suite, i, bit, w[i]!.toString(16), '->', (w[i]! ^ (1 << bit)).toString(16), r);
    }
  }
});
