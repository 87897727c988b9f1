// bench/results/ratios.svg: hand-written horizontal bar chart (no charting dependency) of each
// pqe2ee operation's ops/s divided by the best peer's ops/s, on a log2 axis centred on 1.0x.
// Whiskers show the combined relative margin of error of the two measurements.
import { fmtRatio } from '../format.mjs';
import { ourRowsWithRatios, shortPeer } from './shared.mjs';

const xml = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const r1 = (n) => Math.round(n * 10) / 10;

export function renderSvg(results) {
  const items = ourRowsWithRatios(results).filter((x) => x.ratio);
  const W = 1040,
    LABEL_X = 300,
    X0 = 312,
    X1 = 820,
    VAL_X = 832;
  const TOP = 86,
    ROW = 20,
    BAR = 12,
    BOTTOM = 56;
  const H = TOP + Math.max(items.length, 1) * ROW + BOTTOM;

  const ratios = items.map((x) => x.ratio.best.ratio);
  const LIM = 8; // clamp the axis to 2^-8 .. 2^8
  const lo = Math.max(-LIM, Math.min(-2, Math.floor(Math.log2(Math.min(...ratios, 1)))));
  const hi = Math.min(LIM, Math.max(2, Math.ceil(Math.log2(Math.max(...ratios, 1)))));
  const xOf = (r) => X0 + ((Math.min(hi, Math.max(lo, Math.log2(r))) - lo) / (hi - lo)) * (X1 - X0);
  const x1 = xOf(1);

  const s = [];
  s.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">`);
  s.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  const m = results.meta;
  s.push(`<text x="16" y="26" font-size="17" font-weight="bold" fill="#222">pqe2ee ops/s ÷ best peer ops/s (same run, same inputs)</text>`);
  s.push(
    `<text x="16" y="46" fill="#555">${xml(`${m.date.slice(0, 10)} · Node ${m.node} · ${m.cpu.model} ×${m.cpu.cores} (shared, noisy) · log scale · right of 1.0x = pqe2ee faster`)}</text>`,
  );
  const warn = [];
  if (results.summary?.casesContended)
    warn.push(`${results.summary.casesContended} of ${results.summary.cases} cases ran while other processes used CPU: ratios are noisier than usual`);
  if (warn.length) s.push(`<text x="16" y="64" fill="#c0392b" font-weight="bold">${xml(warn.join(' · '))}</text>`);

  // stripes
  items.forEach((_, i) => {
    if (i % 2 === 0) s.push(`<rect x="8" y="${TOP + i * ROW}" width="${W - 16}" height="${ROW}" fill="#f4f6f8"/>`);
  });
  // grid + ticks
  const step = hi - lo > 10 ? 2 : 1;
  for (let e = lo; e <= hi; e += step) {
    const x = r1(xOf(2 ** e));
    s.push(`<line x1="${x}" y1="${TOP - 6}" x2="${x}" y2="${TOP + items.length * ROW}" stroke="#d5d9de" stroke-width="1"/>`);
    const label = e >= 0 ? `${2 ** e}x` : `1/${2 ** -e}x`;
    s.push(`<text x="${x}" y="${TOP - 10}" text-anchor="middle" fill="#555">${label}</text>`);
    s.push(`<text x="${x}" y="${TOP + items.length * ROW + 16}" text-anchor="middle" fill="#555">${label}</text>`);
  }

  items.forEach(({ row, ratio }, i) => {
    const y = TOP + i * ROW;
    const cy = y + ROW / 2;
    const r = ratio.best.ratio;
    const xr = xOf(r);
    const faster = r >= 1;
    const color = faster ? '#2e9e5b' : '#d1493f';
    s.push(`<text x="${LABEL_X}" y="${cy + 4}" text-anchor="end" fill="#222">${xml(row.op)}</text>`);
    s.push(`<rect x="${r1(Math.min(x1, xr))}" y="${r1(cy - BAR / 2)}" width="${r1(Math.max(1, Math.abs(xr - x1)))}" height="${BAR}" fill="${color}" rx="2"/>`);
    const rme = ratio.best.rme ?? 0;
    if (rme > 0 && rme < 100) {
      const a = r1(xOf(r * (1 - rme / 100))),
        b = r1(xOf(r * (1 + rme / 100)));
      s.push(`<line x1="${a}" y1="${cy}" x2="${b}" y2="${cy}" stroke="#333" stroke-width="1"/>`);
      s.push(`<line x1="${a}" y1="${cy - 3}" x2="${a}" y2="${cy + 3}" stroke="#333"/><line x1="${b}" y1="${cy - 3}" x2="${b}" y2="${cy + 3}" stroke="#333"/>`);
    }
    if (Math.log2(r) > hi || Math.log2(r) < lo) {
      s.push(`<text x="${r1(xr + (faster ? -4 : 4))}" y="${cy + 4}" text-anchor="${faster ? 'end' : 'start'}" fill="#fff" font-weight="bold">${faster ? '»' : '«'}</text>`);
    }
    const t = results.targets.find((x) => x.kind === 'ratio' && x.row === row.op && x.peer === ratio.best.peer);
    if (t) {
      const xt = r1(xOf(t.min));
      s.push(`<line x1="${xt}" y1="${y + 1}" x2="${xt}" y2="${y + ROW - 1}" stroke="#1f4e9c" stroke-width="2.5"/>`);
    }
    s.push(
      `<text x="${VAL_X}" y="${cy + 4}" fill="#222"><tspan font-weight="bold">${fmtRatio(r)}</tspan><tspan fill="#666" dx="6">vs ${xml(shortPeer(ratio.best.peer))}</tspan></text>`,
    );
  });
  // the 1.0x line on top of the bars
  s.push(`<line x1="${r1(x1)}" y1="${TOP - 6}" x2="${r1(x1)}" y2="${TOP + items.length * ROW + 4}" stroke="#111" stroke-width="2"/>`);

  const ly = H - 18;
  s.push(`<rect x="16" y="${ly - 10}" width="12" height="12" fill="#2e9e5b"/><text x="34" y="${ly}" fill="#333">pqe2ee faster than the best peer</text>`);
  s.push(`<rect x="260" y="${ly - 10}" width="12" height="12" fill="#d1493f"/><text x="278" y="${ly}" fill="#333">pqe2ee slower</text>`);
  s.push(`<line x1="400" y1="${ly - 4}" x2="430" y2="${ly - 4}" stroke="#333"/><text x="436" y="${ly}" fill="#333">± combined margin of error (benchmark.js rme)</text>`);
  s.push(`<line x1="750" y1="${ly - 11}" x2="750" y2="${ly + 2}" stroke="#1f4e9c" stroke-width="2.5"/><text x="758" y="${ly}" fill="#333">issue target (minimum ratio)</text>`);
  if (items.length === 0) s.push(`<text x="${X0}" y="${TOP + 14}" fill="#555">no ratios measured</text>`);
  s.push('</svg>');
  return s.join('\n') + '\n';
}
