// Number formatting shared by the reports.
export const fmtOps = (hz) => (hz == null ? '—' : hz >= 100 ? Math.round(hz).toLocaleString('en-US') : hz.toLocaleString('en-US', { maximumSignificantDigits: 3 }));
export const fmtRatio = (r) => (r == null ? '—' : r >= 10 ? `${r.toFixed(1)}x` : `${r.toFixed(2)}x`);
export const fmtPct = (p) => (p == null ? '—' : `±${p.toFixed(1)}%`);
export const fmtMB = (m) => (m == null ? '—' : m >= 100 ? m.toFixed(0) : m >= 1 ? m.toFixed(1) : m.toFixed(3));
export const fmtBytes = (n) => (n == null ? '—' : n.toLocaleString('en-US'));
export const fmtKB = (n) => (n == null ? '—' : `${(n / 1000).toFixed(1)} KB`);
export const fmtMs = (ms) => (ms == null ? '—' : `${ms.toFixed(1)} ms`);
