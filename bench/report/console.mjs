// Plain-text tables on stdout at the end of the run.
import { fmtOps, fmtRatio, fmtPct, fmtMB, fmtKB } from '../format.mjs';
import { ourRowsWithRatios, shortPeer, targetMeasured, passText, protocolTable } from './shared.mjs';
import { isContended } from '../contention.mjs';

function table(headers, rows, align) {
  const w = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => cells.map((c, i) => (align[i] === 'r' ? String(c).padStart(w[i]) : String(c).padEnd(w[i]))).join('  ');
  return [line(headers), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
}

export function renderConsole(results) {
  const out = [];
  const m = results.meta;
  out.push(`pqe2ee benchmark — ${m.date} — node ${m.node} — ${m.cpu.model} x${m.cpu.cores} — ${results.durationSec.toFixed(0)} s`);
  const impl = results.implementation;
  out.push(`implementation: ${impl.source} (${impl.entry}${impl.protocolEntry ? `; protocol: ${impl.protocolEntry}` : ''})${impl.note ? `\n!! ${impl.note}` : ''}`);
  out.push('');
  out.push(
    table(
      ['operation', 'pqe2ee ops/s', 'rme', 'MB/s', 'best peer', 'peer ops/s', 'ratio', 'all peers'],
      ourRowsWithRatios(results).map(({ row, ratio }) => [
        row.op,
        row.error ? 'ERROR' : fmtOps(row.opsPerSec) + (isContended(row) ? ' †' : ''),
        fmtPct(row.rme),
        row.bytes && row.bytes >= 1024 ? fmtMB(row.mbPerSec) : '',
        ratio ? shortPeer(ratio.best.peer) : '',
        ratio ? fmtOps(ratio.best.opsPerSec) : '',
        ratio ? fmtRatio(ratio.best.ratio) : '',
        ratio
          ? Object.entries(ratio.perPeer)
              .map(([p, v]) => `${shortPeer(p)} ${fmtRatio(v.ratio)}`)
              .join(', ')
          : '',
      ]),
      ['l', 'r', 'r', 'r', 'l', 'r', 'r', 'l'],
    ),
  );
  out.push('');
  if (results.protocol) {
    const p = protocolTable(results);
    out.push('Protocol (one-to-one sessions, pqe2ee; ops/s ±rme)');
    if (!p) out.push(`unavailable: ${results.protocol.reason}`);
    else {
      out.push(table(p.headers, p.rows, p.align));
      for (const n of p.notes) out.push(`* ${n}`);
    }
    out.push('');
  }
  out.push(
    table(
      ['target', 'required', 'measured', 'result'],
      results.targets.map((t) => [
        t.what,
        t.target,
        targetMeasured(t, fmtRatio, fmtKB) + (t.kind === 'rate' && t.rme != null ? ` ±${t.rme.toFixed(1)}%` : ''),
        passText(t) + (t.reason ? ` (${t.reason})` : ''),
      ]),
      ['l', 'l', 'r', 'l'],
    ),
  );
  if (results.summary.casesContended) out.push(`† ran while other processes used CPU (${results.summary.casesContended} cases; see otherCores in latest.json)`);
  const errs = results.rows.filter((r) => r.error);
  const down = results.peers.filter((p) => !p.available);
  if (errs.length || down.length) {
    out.push('');
    for (const p of down) out.push(`peer unavailable: ${p.name}: ${p.reason}`);
    for (const r of errs) out.push(`error: ${r.id}: ${r.error}`);
  }
  return out.join('\n') + '\n';
}
