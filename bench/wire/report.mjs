// Markdown tables of a wire run (stdout and wire.md). The JSON file carries the same data in full.
import { fmtBytes, fmtOps, fmtRatio } from '../format.mjs';

const range = (s) => (s ? `${fmtBytes(s.mean)} (${fmtBytes(s.min)}–${fmtBytes(s.max)})` : '—');
const fieldList = (b) =>
  Object.entries(b)
    .map(([k, v]) => `${k} ${fmtBytes(v)}`)
    .join(' · ');
const table = (head, rows) => [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');

// Issue 14's figures (measured before this bench existed) and its v2 targets, for comparison only.
const ISSUE = { s1: 3310, s1g: 4803, s3: 2510, s3g: 3549, ls: 204, lsg: 206 };

function oneToOne(r) {
  const rows = r.wire.oneToOne.map((w) => [
    w.label,
    range(w.rows.burst),
    range(w.rows.pingPong),
    range(w.rows.burstFresh),
    `${fmtBytes(w.rows.first.total)}${w.rows.first.handshake ? ` (invite ${fmtBytes(w.rows.first.parts.invite)} + accept ${fmtBytes(w.rows.first.parts.accept)} + message ${fmtBytes(w.rows.first.message)})` : ' (the PreKeySignalMessage)'}`,
    fmtBytes(w.rows.first.parts.bundle),
    fmtBytes(w.rows.burstFreshWithSetup),
  ]);
  return table(
    [
      'one-to-one, 100 B body',
      'burst: mean (min–max)',
      'ping-pong',
      'burst before any reply',
      'first message: all bytes before B reads it',
      'pre-key bundle',
      `fresh burst incl. setup, per message`,
    ],
    rows,
  );
}

function group(r) {
  return table(
    [
      'group of 3, 100 B body',
      'per message: mean (min–max)',
      "sender's first message of the epoch",
      `mean of all ${r.wire.messages}`,
      'group key material',
      'carried to the 2 others (1:1 messages)',
    ],
    r.wire.group.map((g) => [
      g.label,
      range(g.rows.message),
      g.rows.first == null ? '—' : fmtBytes(g.rows.first),
      g.rows.all ? fmtBytes(g.rows.all.mean) : '—',
      fmtBytes(g.rows.setup.bundle),
      fmtBytes(g.rows.setup.distributionToTwo),
    ]),
  );
}

function breakdowns(r) {
  return table(
    ['message (first of its kind, 100 B body)', 'bytes', 'fields (protobuf tag + length + value)'],
    r.wire.breakdown.map((b) => [b.label, fmtBytes(b.bytes), fieldList(b.fields)]),
  );
}

function runtime(r) {
  if (!r.clientRuntime.rows.length) return `Client runtime rows not measured: ${r.clientRuntime.unavailable}`;
  return table(
    ['client runtime (SendResult.wireBytes), 100 B body', 'burst', 'ping-pong', 'group of 3'],
    r.clientRuntime.rows.map((c) => (c.error ? [c.label, c.error, '', ''] : [c.label, range(c.burst), range(c.pingPong), range(c.group)])),
  );
}

function rates(r) {
  const impls = [...new Set(r.rates.rows.map((x) => x.impl))];
  const get = (impl, op) => r.rates.rows.find((x) => x.impl === impl && x.op === op);
  const suites = impls.filter((i) => i.startsWith('pqe2ee')).map((i) => Number(i.slice(-1)));
  const head = ['ops/s (median of rounds)', ...impls, ...(r.libsignal.available ? suites.map((s) => `suite ${s} ÷ libsignal`) : [])];
  const rows = r.rates.ops.map((op) => [
    op,
    ...impls.map((i) => {
      const x = get(i, op);
      return x ? `${fmtOps(x.opsPerSec)}${(x.otherCores ?? 0) + (x.stealCores ?? 0) > 0.25 ? ' †' : ''}` : '—';
    }),
    ...(r.libsignal.available
      ? suites.map((s) => {
          const x = r.rates.ratios.find((y) => y.suite === s && y.op === op);
          return x ? `${fmtRatio(x.ratio)} (${fmtRatio(x.min)}–${fmtRatio(x.max)})` : '—';
        })
      : []),
  ]);
  return table(head, rows);
}

function versusIssue(r) {
  const o = (s) => r.wire.oneToOne.find((w) => w.id === s)?.rows;
  const g = (s) => r.wire.group.find((w) => w.id === s)?.rows.message.mean;
  const rows = [
    ['pqe2ee suite 1 one-to-one', ISSUE.s1, o('pqe2ee.suite1')?.burst.mean, o('pqe2ee.suite1')?.pingPong.mean],
    ['pqe2ee suite 1 group', ISSUE.s1g, g('pqe2ee.suite1')],
    ['pqe2ee suite 3 one-to-one', ISSUE.s3, o('pqe2ee.suite3')?.burst.mean, o('pqe2ee.suite3')?.pingPong.mean],
    ['pqe2ee suite 3 group', ISSUE.s3g, g('pqe2ee.suite3')],
    ['libsignal one-to-one', ISSUE.ls, o('libsignal')?.burst.mean, o('libsignal')?.pingPong.mean],
    ['libsignal sender-key group', ISSUE.lsg, g('libsignal')],
  ];
  return table(
    ['row', 'issue 14 figure', 'this run (burst / group)', 'this run (ping-pong)'],
    rows.map(([label, issue, a, b]) => [label, fmtBytes(issue), fmtBytes(a), b == null ? '' : fmtBytes(b)]),
  );
}

const count = (x) => (x == null ? '—' : String(x));
const dist = (d) => (d.n === 0 ? '—' : `${count(d.median)} / ${count(d.p90)} / ${count(d.max)}`);

function healing(r) {
  if (!r.healing) return '';
  return table(
    [
      'healing (messages, both directions together)',
      'loss',
      'messages',
      'epochs',
      'epoch interval: median / p90 / max',
      'reader healed: median / p90 / max (unhealed)',
      'writer healed: median / p90 / max (unhealed)',
    ],
    r.healing.rows.map((h) => [
      `suite ${h.suite}, ${h.pattern}`,
      `${h.loss * 100}%`,
      String(h.messages),
      String(h.epochs),
      dist(h.interval),
      `${dist(h.heal)}${h.unhealed ? ` (${h.unhealed})` : ''}`,
      `${dist(h.writerHeal)}${h.writerUnhealed ? ` (${h.writerUnhealed})` : ''}`,
    ]),
  );
}

function targets(r) {
  const o = r.wire.oneToOne.find((w) => w.id === 'pqe2ee.suite1')?.rows;
  const o3 = r.wire.oneToOne.find((w) => w.id === 'pqe2ee.suite3')?.rows;
  const g1 = r.wire.group.find((w) => w.id === 'pqe2ee.suite1')?.rows.message.mean;
  const rate = (impl, op) => r.rates.rows.find((x) => x.impl === impl && x.op === op)?.opsPerSec;
  const setupRatio = r.rates.ratios.find((x) => x.suite === 1 && x.op === 'setup')?.ratio;
  const verdict = (ok) => (ok == null ? 'n/a' : ok ? 'PASS' : 'FAIL');
  const balanced = r.healing?.rows.find((h) => h.suite === 1 && h.pattern === 'balanced' && h.loss === 0);
  const oneSided = r.healing?.rows.find((h) => h.suite === 1 && h.pattern === 'one-sided' && h.loss === 0);
  const rows = [
    [
      'suite 1 balanced healing: median ≤ 60 messages each way until a new epoch',
      balanced ? `${balanced.interval.median / 2} each way (p90 ${balanced.interval.p90 / 2})` : '—',
      verdict(balanced ? balanced.interval.median / 2 <= 60 : null),
    ],
    [
      'suite 1 one-sided: a compromise of the writer heals within a stated bound (3 budgets = 150 messages)',
      oneSided ? `max ${count(oneSided.writerHeal.max)}${oneSided.writerUnhealed ? `, ${oneSided.writerUnhealed} unhealed` : ''}` : '—',
      verdict(oneSided ? oneSided.writerHeal.n > 0 && oneSided.writerHeal.max <= 150 && oneSided.writerUnhealed === 0 : null),
    ],
    [
      'suite 1 one-to-one ≤ 200 B (burst and ping-pong)',
      `${fmtBytes(o?.burst.mean)} / ${fmtBytes(o?.pingPong.mean)}`,
      verdict(o && Math.max(o.burst.mean, o.pingPong.mean) <= 200),
    ],
    ['suite 1 group ≤ 200 B (after the epoch’s first message, which carries the sender key)', fmtBytes(g1), verdict(g1 == null ? null : g1 <= 200)],
    ['suite 1 group encrypt ≥ 6,000/s', fmtOps(rate('pqe2ee.suite1', 'groupEncrypt')), verdict(rate('pqe2ee.suite1', 'groupEncrypt') >= 6000)],
    ['suite 1 setup ≥ 1.5x libsignal PQXDH setup', fmtRatio(setupRatio), verdict(setupRatio == null ? null : setupRatio >= 1.5)],
    ['suite 3 one-to-one ≤ 220 B', `${fmtBytes(o3?.burst.mean)} / ${fmtBytes(o3?.pingPong.mean)}`, verdict(o3 && Math.max(o3.burst.mean, o3.pingPong.mean) <= 220)],
  ];
  return table(['issue 14 target', 'this run', 'verdict'], rows);
}

export function markdown(r) {
  const m = r.meta;
  return [
    `# Wire cost rows (issue 14) — protocol v2${m.quick ? ' (QUICK run: short rate rounds)' : ''}`,
    '',
    `${m.date} · commit ${m.commit}${m.srcDirty ? ' (src/ has uncommitted changes)' : ''} · node ${m.node} · ${m.cpu.model} × ${m.cpu.cores} · ` +
      `load average (1/5/15 min) before ${m.loadavgBefore.join(' / ')}, after ${m.loadavgAfter.join(' / ')} · ` +
      `libsignal ${r.libsignal.available ? `@signalapp/libsignal-client ${r.libsignal.version}` : `NOT LOADED: ${r.libsignal.reason}`}`,
    '',
    `Bytes are the serialized messages each library produces for a ${r.wire.bodyBytes}-byte body, over ${r.wire.messages} messages per pattern, every one decrypted and checked (bench/README.md "Wire cost rows" says exactly what each count includes).`,
    '',
    oneToOne(r),
    '',
    group(r),
    '',
    breakdowns(r),
    '',
    runtime(r),
    '',
    `Rates: timed loops, ${r.rates.timing.rounds} rounds of ~${r.rates.timing.roundMs} ms each after a warm-up, libsignal and the three suites taking turns round by round; ops/s is the median round, a ratio the median (min–max) of the side-by-side rounds' ratios (> 1: pqe2ee faster). † = other processes took > 0.25 core while that operation ran.`,
    '',
    rates(r),
    '',
    r.healing
      ? `Healing: a chaos harness (bench/wire/healing.mjs) per suite, traffic pattern and loss rate, ${r.healing.messages} messages each, delays of up to 8 ticks (reordering). Epoch interval: messages sent between two moments both sides hold a new epoch root (each way ≈ half in balanced traffic). Reader healed: a thief with one side's whole state reads along every message to it; messages until it first cannot. Writer healed: a thief with the writing side's state forges its messages; messages until the peer refuses them. libsignal does not expose its SPQR epochs, so it has no row here.`
      : '',
    '',
    healing(r),
    '',
    versusIssue(r),
    '',
    targets(r),
    '',
  ].join('\n');
}
