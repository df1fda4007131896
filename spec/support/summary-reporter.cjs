// Closes the run with one calm summary: what the harness found about the server, what specs
// measured, every skip grouped by its reason, and last the totals as one plain line
// ("N passed, N failed, N skipped"). The notes come from the file the global setup names in
// CMS_TEST_NOTES (spec/support/notes.ts). Jest's own summary prints after every reporter, so
// this one hands its text to the global teardown, which prints it last; the totals line is
// also kept in .cache/test-summary.txt for .ci/run to repeat after its later steps.
const { existsSync, mkdirSync, readFileSync, writeFileSync } = require('node:fs');
const { basename, join } = require('node:path');

/** The notes of this run, in the order they were written; a torn line is skipped. */
function readNotes() {
  const file = process.env.CMS_TEST_NOTES;
  if (file === undefined || !existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .flatMap((line) => {
      try {
        return [JSON.parse(line)];
      } catch {
        return [];
      }
    });
}

/** `items` grouped by `key`, groups in order of first appearance, duplicates dropped. */
function groupBy(items, key, line) {
  const groups = new Map();
  for (const item of items) {
    const k = key(item);
    if (!groups.has(k)) groups.set(k, new Set());
    groups.get(k).add(line(item));
  }
  return groups;
}

/**
 * The closing summary, without the totals line. `filtered`: the run was given a test name
 * pattern (-t), so jest skipped the tests it did not match.
 */
function closingLines(results, filtered) {
  const notes = readNotes();
  const out = [];
  const server = notes.filter((n) => n.kind === 'server');
  if (server.length > 0) {
    out.push('Test server:');
    for (const n of server) out.push(`  ${n.text}`);
  }
  const measured = groupBy(
    notes.filter((n) => n.kind === 'note'),
    (n) => n.file,
    (n) => n.text,
  );
  if (measured.size > 0) {
    out.push('Measured (not asserted):');
    for (const [file, texts] of measured) for (const text of texts) out.push(`  ${file}: ${text}`);
  }
  const skips = notes.filter((n) => n.kind === 'skip');
  // A test jest skipped that no note explains: say so rather than lose it.
  const unexplained = [];
  for (const suite of results?.testResults ?? []) {
    const file = basename(suite.testFilePath);
    for (const t of suite.testResults) {
      if (t.status !== 'pending' && t.status !== 'todo') continue;
      const explained = skips.some(
        (s) => s.file === file && (s.title === t.title || t.ancestorTitles.includes(s.title)),
      );
      if (explained) continue;
      // Under -t, one line per file: jest skips every test the pattern does not match.
      if (filtered)
        unexplained.push({
          file,
          title: 'its tests -t did not match',
          reason: 'not selected by -t',
        });
      else unexplained.push({ file, title: t.fullName, reason: 'no reason recorded' });
    }
  }
  const byReason = groupBy(
    [...skips, ...unexplained],
    (s) => s.reason,
    (s) => `${s.file} › ${s.title}`,
  );
  if (byReason.size === 0) out.push('Skipped: nothing');
  else {
    out.push('Skipped, by reason:');
    for (const [reason, titles] of byReason) {
      out.push(`  ${reason}:`);
      for (const title of titles) out.push(`    - ${title}`);
    }
  }
  return out;
}

class SummaryReporter {
  constructor(globalConfig) {
    this.filtered = Boolean(globalConfig?.testNamePattern);
  }

  onRunComplete(_contexts, results) {
    const totals = `${results.numPassedTests} passed, ${results.numFailedTests} failed, ${results.numPendingTests + results.numTodoTests} skipped`;
    const dir = join(__dirname, '..', '..', '.cache');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'test-summary.txt'), `${totals}\n`);
    globalThis.__CMS_CLOSING__ = `\n${[...closingLines(results, this.filtered), '', totals].join('\n')}\n`;
  }
}

module.exports = SummaryReporter;
