import { existsSync, readFileSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { NOTES_ENV } from './notes';

declare global {
  // The closing summary, from spec/support/summary-reporter.cjs (same process).
  var __CMS_CLOSING__: string | undefined;
}

/**
 * Stops the servers the setup started, then prints the run's closing summary: it runs after
 * every reporter, jest's own summary included, so the totals line comes last.
 */
export default async function globalTeardown(): Promise<void> {
  for (const server of globalThis.__CMS_SERVERS__ ?? []) await server.stop();
  const file = process.env[NOTES_ENV];
  if (globalThis.__CMS_CLOSING__ !== undefined) process.stdout.write(globalThis.__CMS_CLOSING__);
  else if (file !== undefined && existsSync(file)) {
    // The summary reporter is not in this run's reporters: still show every note and skip.
    process.stdout.write(`\nNotes of this run (raw):\n${readFileSync(file, 'utf8')}`);
  }
  if (file !== undefined) rmSync(dirname(file), { recursive: true, force: true });
}
