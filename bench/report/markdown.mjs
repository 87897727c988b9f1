// bench/results/latest.md: markdown tables suitable for pasting into the README.
import { fmtOps, fmtRatio, fmtPct, fmtMB, fmtKB, fmtBytes, fmtMs } from '../format.mjs';
import { ourRowsWithRatios, peerRows, shortPeer, targetMeasured, passText, protocolTable } from './shared.mjs';
import { isContended, CONTENDED_CORES } from '../contention.mjs';

const dagger = (r) => (isContended(r) ? ' †' : '');

const esc = (s) => String(s).replace(/\|/g, '\\|');
const mdTable = (headers, rows, align) =>
  [`| ${headers.join(' | ')} |`, `| ${align.map((a) => (a === 'r' ? '---:' : '---')).join(' | ')} |`, ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`)].join('\n');

const sz = (x) => (x && x.raw != null ? [fmtBytes(x.raw), fmtBytes(x.gzip)] : ['—', x?.reason ? `— (${x.reason})` : '—']);

export function renderMarkdown(results) {
  const m = results.meta;
  const L = [];
  L.push('## Benchmarks');
  L.push('');
  L.push(
    `Measured ${m.date.slice(0, 10)} on ${m.cpu.model} (${m.cpu.cores} cores, shared and noisy), Node ${m.node}, ` +
      `${results.durationSec.toFixed(0)} s run${results.config.quick ? ' (BENCH_QUICK)' : ''}. ` +
      'Ratios compare pqe2ee with peers measured in the same run on the same inputs; absolute ops/s are not comparable across machines or runs. ' +
      'See bench/README.md.',
  );
  if (results.implementation.note) {
    L.push('');
    L.push(`> **${results.implementation.note}**`);
  }
  if (results.summary.casesContended) {
    L.push('');
    L.push(
      `> ${results.summary.casesContended} of ${results.summary.cases} cases ran while other processes used more than ${CONTENDED_CORES} of a core (marked † below; \`otherCores\` / \`stealCores\` per row in latest.json).`,
    );
  }
  L.push('');
  L.push('### Targets');
  L.push('');
  L.push(
    mdTable(
      ['target', 'required', 'measured', 'result'],
      results.targets.map((t) => [
        t.what,
        t.target,
        targetMeasured(t, fmtRatio, fmtKB) + (t.rme != null ? ` ±${t.rme.toFixed(0)}%` : ''),
        passText(t) + (t.reason ? ` — ${t.reason}` : ''),
      ]),
      ['l', 'l', 'r', 'l'],
    ),
  );
  L.push('');
  L.push('### pqe2ee vs peers (ops/s, higher is better; ratio > 1 means pqe2ee is faster)');
  L.push('');
  L.push(
    mdTable(
      ['operation', 'pqe2ee ops/s', '±', 'MB/s', 'best peer', 'best peer ops/s', 'ratio vs best', 'ratio per peer'],
      ourRowsWithRatios(results).map(({ row, ratio }) => [
        `\`${row.op}\``,
        row.error ? `error: ${row.error}` : fmtOps(row.opsPerSec) + dagger(row),
        fmtPct(row.rme),
        row.bytes && row.bytes >= 1024 ? fmtMB(row.mbPerSec) : '',
        ratio ? ratio.best.peer : '',
        ratio ? fmtOps(ratio.best.opsPerSec) : '',
        ratio ? `**${fmtRatio(ratio.best.ratio)}**` : '',
        ratio
          ? Object.entries(ratio.perPeer)
              .map(([p, v]) => `${shortPeer(p)} ${fmtRatio(v.ratio)}`)
              .join(', ')
          : '',
      ]),
      ['l', 'r', 'r', 'r', 'l', 'r', 'r', 'l'],
    ),
  );
  L.push('');
  if (results.protocol) {
    L.push('### Protocol (one-to-one sessions; ops/s ± rme, higher is better)');
    L.push('');
    const p = protocolTable(results);
    if (!p) L.push(`Unavailable: ${results.protocol.reason}`);
    else {
      L.push(mdTable(p.headers, p.rows, p.align));
      L.push('');
      for (const n of p.notes) L.push(`- ${n}`);
    }
    L.push('');
  }
  L.push('### Peers');
  L.push('');
  L.push(
    mdTable(
      ['operation', 'peer', 'ops/s', '±', 'MB/s'],
      peerRows(results).map((r) => [
        `\`${r.op}\``,
        r.impl,
        r.error ? `error: ${r.error}` : fmtOps(r.opsPerSec) + dagger(r),
        fmtPct(r.rme),
        r.bytes && r.bytes >= 1024 ? fmtMB(r.mbPerSec) : '',
      ]),
      ['l', 'l', 'r', 'r', 'r'],
    ),
  );
  L.push('');
  for (const p of results.peers) {
    if (!p.available) L.push(`- **${p.name}** unavailable: ${p.reason}`);
    for (const n of p.notes) L.push(`- ${p.name}: ${n}`);
  }
  L.push('');
  L.push('### Code size (bytes; gzip = zlib level 9)');
  L.push('');
  const s = results.sizes;
  const lo = s['@oqs/liboqs-js'] ?? {};
  L.push(
    mdTable(
      ['artifact', 'raw', 'gzip'],
      [
        ['pqe2ee `wasm/pqe2ee_core.wasm`', ...sz(s.pqe2ee.wasm)],
        ['pqe2ee bundle: all of `pqe2ee/crypto` (esbuild, minified, wasm embedded)', ...sz(s.pqe2ee.cryptoEntryBundle)],
        ['pqe2ee bundle: `mlkem1024` + `mldsa87` (esbuild, minified)', ...sz(s.pqe2ee.bundleKemDsa)],
        ['liboqs-js wasm: ML-KEM-1024 + ML-DSA-87', ...sz(lo.wasm ?? lo)],
        ['liboqs-js `ml-kem-1024.min.js` + `ml-dsa-87.min.js` (JS, wasm embedded)', ...sz(lo.jsWithEmbeddedWasm ?? lo)],
        ['@noble/post-quantum bundle: `ml_kem1024` + `ml_dsa87` (esbuild, minified)', ...sz(s['@noble/post-quantum'].bundleKemDsa)],
      ],
      ['l', 'r', 'r'],
    ),
  );
  L.push('');
  if (results.coldStart) {
    L.push(`### Cold start (fresh \`node\` process, import → first ML-KEM-1024 keygen, median of ${results.coldStart.runs})`);
    L.push('');
    L.push(
      mdTable(
        ['implementation', 'median', 'min', 'max', 'since process start (median)', 'measured'],
        results.coldStart.results.map((r) => [
          r.impl,
          r.error ? `error: ${r.error}` : fmtMs(r.medianMs),
          fmtMs(r.minMs),
          fmtMs(r.maxMs),
          fmtMs(r.medianSinceProcessStartMs),
          `\`${r.what}\``,
        ]),
        ['l', 'r', 'r', 'r', 'r', 'l'],
      ),
    );
    L.push('');
  }
  const errs = results.rows.filter((r) => r.error);
  if (errs.length) {
    L.push('### Errors');
    L.push('');
    for (const r of errs) L.push(`- \`${r.id}\`: ${r.error}`);
    L.push('');
  }
  return L.join('\n');
}
