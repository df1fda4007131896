// What every phase is given, and what it is: a name and one async run.
import type { Settings } from '../args';
import type { Arena, Contestant } from '../contestants';
import type { ServerProcess } from '../cpu';
import type { Tally } from '../tally';

export interface Context {
  settings: Settings;
  arena: Arena;
  /** Whether the server builds TTL indexes (connect-mongo's `autoRemove` follows it). */
  ttl: boolean;
  /** The server process, when this run started it: its CPU time can be read. */
  server: ServerProcess | undefined;
  /** The rows, and the ratios the report states. */
  tally: Tally;
  /** Lines under the setting, each said once. */
  finding(line: string): void;
  /** A markdown section after the table. */
  section(lines: readonly string[]): void;
  /** The memory phase's line in the setting. */
  memoryLine: string;
  /** Keeps a contestant to close at the end of the run, and gives it back. */
  open<T extends Contestant | Error>(opening: Promise<T>): Promise<T>;
}

/** One phase of the run: it measures, and leaves its rows and lines in the context. */
export interface Phase {
  run(ctx: Context): Promise<void>;
}

/** A contestant that may fail to start (connect-mongodb-session): its error becomes a finding. */
export async function ifItRuns(
  ctx: Context,
  opening: Promise<Contestant | Error>,
): Promise<Contestant[]> {
  const c = await ctx.open(opening);
  if (!(c instanceof Error)) return [c];
  ctx.finding(`connect-mongodb-session cannot run here: ${c.message}`);
  return [];
}
