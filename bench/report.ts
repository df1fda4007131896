// The markdown a run prints and writes to bench/results/: the setting, the table, the ratios.
import mongoose from 'mongoose';
import type { Settings } from './args';
import { isMeasured, type Measured, type RowKey, type Tally } from './tally';

/** What the report says besides the table. */
export interface ReportInput {
  server: string;
  settings: Settings;
  /** The memory phase's line, or why it did not run. */
  memoryLine: string;
  /** One line each, under the setting. */
  findings: readonly string[];
  /** Markdown sections a phase adds after the table, each a list of lines. */
  sections: readonly (readonly string[])[];
  tally: Tally;
}

const x = (v: number) => `${v.toFixed(2)}×`;

/** `a`'s rate over `b`'s over all rounds, then the lowest and highest round-by-round ratio. */
export function ratio(tally: Tally, a: Measured | undefined, b: Measured | undefined): string {
  if (!a || !b) return '';
  const ra = tally.perRound(a);
  const rb = tally.perRound(b);
  const each = ra.map((v, i) => v / rb[i]).filter(Number.isFinite);
  const spread = each.length > 1 ? ` (${x(Math.min(...each))}–${x(Math.max(...each))})` : '';
  return `${x(a.opsPerSec / b.opsPerSec)}${spread}`;
}

export function report({
  server,
  settings,
  memoryLine,
  findings,
  sections,
  tally,
}: ReportInput): string {
  const rows = tally.rows();
  const measured = rows.filter(isMeasured);
  const by = ({ op, level, store }: RowKey) =>
    measured.find((r) => r.op === op && r.level === level && r.store === store);
  const lines = [
    `# Benchmark${settings.smoke ? ' (smoke run: tiny N, figures mean nothing)' : ''}`,
    '',
    `- Server: ${server}`,
    `- Node ${process.version}, mongoose ${mongoose.version}, ${process.env.npm_package_name ?? 'connect-mongoose-session'} ${process.env.npm_package_version ?? ''}`,
    `- Rounds: ${settings.rounds}; operations per batch: ${settings.n[1]} at concurrency 1, ${settings.n[32]} at 32; 2 cores shared by Node, the server and the load generator`,
    `- ${memoryLine}`,
    ...findings.map((f) => `- ${f}`),
  ];
  if (rows.length > 0)
    lines.push(
      `- Ratios: over all rounds, then (in brackets) the lowest and the highest of the ${settings.rounds} round-by-round ratios (for length, of the call-by-call ones); a spread that straddles 1.00× is noise. HTTP: req/s is the mean of the rounds, p50 and p99 the median round's`,
      '- CPU µs/op: CPU time (user + system) of the benchmark process per operation: the store, its driver and, for HTTP, express. The server runs in another process and is not in it',
      '',
      '| operation | conc. | store | ops/s | p50 ms | p99 ms | CPU µs/op | errors | ours ÷ raw | ours ÷ connect-mongo |',
      '| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    );
  for (const r of rows) {
    if (!isMeasured(r)) {
      lines.push(`| ${r.op} | ${r.level} | ${r.store} | n/a | n/a | n/a | n/a | | | |`);
      continue;
    }
    const isOurs = r.store.startsWith('ours');
    const raw = by({ ...r, store: 'raw driver' });
    const cm = by({
      ...r,
      store: r.op.includes('touchAfter') ? 'connect-mongo touchAfter' : 'connect-mongo',
    });
    lines.push(
      `| ${r.op} | ${r.level} | ${r.store} | ${r.opsPerSec.toFixed(r.opsPerSec < 10 ? 2 : 0)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.cpuUsPerOp.toFixed(r.cpuUsPerOp < 10 ? 2 : 0)} | ${r.errors ?? 0} | ${isOurs ? ratio(tally, r, raw) : ''} | ${isOurs ? ratio(tally, r, cm) : ''} |`,
    );
  }
  const failures = measured.filter((r) => (r.errors ?? 0) > 0);
  if (failures.length > 0) {
    lines.push('', 'Failed operations (first messages):');
    for (const r of failures)
      lines.push(
        `- ${r.store}, ${r.op} at ${r.level}: ${r.messages?.join(' / ') ?? `${r.errors} failed requests`}`,
      );
  }
  const stated = tally.comparisons
    .map((c) => ({ label: c.label, value: ratio(tally, by(c.a), by(c.b)) }))
    .filter((c) => c.value !== '');
  if (stated.length > 0) {
    lines.push('', '## Side by side', '');
    for (const c of stated) lines.push(`- ${c.label}: ${c.value}`);
  }
  for (const section of sections) lines.push('', ...section);
  return `${lines.join('\n')}\n`;
}
