import { appendFileSync } from 'node:fs';

/**
 * What the harness found out during a run, for the closing summary that
 * spec/support/summary-reporter.cjs prints once, grouped, one line each. Specs and the global
 * setup append here instead of printing: jest shows each `console.log` of a spec as a block
 * with a stack line.
 */
export type Note =
  /** A finding about the run's server: which one, what it can do, what was passed over. */
  | { kind: 'server'; text: string }
  /** A `describe` or `it` that did not run, and why. */
  | { kind: 'skip'; file: string; title: string; reason: string }
  /** A figure a spec measured, worth reading but not asserted on. */
  | { kind: 'note'; file: string; text: string };

/** Where the notes of this run go (set by the global setup; workers inherit it). */
export const NOTES_ENV = 'CMS_TEST_NOTES';

/** Appends `note` to the run's notes; one JSON line each, so concurrent workers never mix. */
export function addNote(note: Note): void {
  const file = process.env[NOTES_ENV];
  if (file === undefined)
    throw new Error(`${NOTES_ENV} is not set: run the specs through jest (globalSetup sets it)`);
  // One short append per line: lines from two workers never interleave.
  appendFileSync(file, `${JSON.stringify(note)}\n`);
}
