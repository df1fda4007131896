// The command line of `npm run bench`: every flag, its default, and the smoke run's sizes.

/** The phases, in the order they run. */
export const PHASE_NAMES = ['operations', 'length', 'http', 'memory', 'users'] as const;
export type PhaseName = (typeof PHASE_NAMES)[number];

/** What one run measures, and how much of it. */
export interface Settings {
  /** `--smoke`: tiny sizes, so that CI proves the benchmark runs; its figures mean nothing. */
  smoke: boolean;
  /** `--phases=a,b` (default: all), in the order given: it names the results file. */
  phases: readonly PhaseName[];
  /** `--rounds=N`: how often every batch runs, interleaved with the other contestants. */
  rounds: number;
  /** Operations per batch at concurrency 1 and 32 (`--n32=N`). */
  n: { 1: number; 32: number };
  /** Collection sizes `length` counts over. */
  sizes: number[];
  /** `length` calls per size and contestant. */
  lengthReps: number;
  /** `--http-seconds=N`: how long autocannon loads each HTTP row, each round. */
  httpSeconds: number;
  /**
   * `--http-sessions=N`: the other sessions stored when each HTTP run starts, half of them
   * expired and not yet swept. Each run starts from them alone, so that no row meets a
   * collection the rows before it grew (on FerretDB 1.x a scan's cost grows with it).
   */
  httpSessions: number;
  /** `--http-rows=a,b`: the HTTP rows to run, by name (default: all). */
  httpRows: readonly string[] | undefined;
  /** `--memory-ops=N`: measured mixed operations of the memory phase. */
  memOps: number;
  /** `--warm-ops=N`: unmeasured operations before it. */
  warmOps: number;
  /** `--memory-concurrency=N`; FerretDB's write lock makes high values crawl. */
  memoryConcurrency: number;
  /**
   * `--memory-ids=N`: session ids the memory phase cycles through. A prime, so that every id
   * meets every kind of operation (with 10,000 ids and a cycle of 20 kinds, each id only ever
   * met one). Kept small because FerretDB 1.x scans the whole table on every lookup by `_id`.
   */
  memoryIds: number;
  /**
   * The users phase: `--users-sessions=N` sessions (a multiple of the users) of `--users=N`
   * users; `gets` timed gets and `--users-calls=N` calls of each user method per round.
   */
  users: { sessions: number; users: number; gets: number; calls: number };
  /**
   * `--stores=a,b`: the operations phase's contestants to run, by name (default: all), so
   * that a run comparing two of them spends its time on those alone.
   */
  stores: readonly string[] | undefined;
  /** `--label=x`: what names the server in the results file (default: how it was found). */
  label: string | undefined;
  /**
   * `--baseline=DIR,DIR2`: checkouts of this store, each built (`npm run build` there), whose
   * `dist/` runs beside ours in the operations phase as row `ours @<DIR's name>`: a change
   * measured against the code before it, side by side in one run.
   */
  baselines: readonly string[];
}

const FULL = {
  rounds: 3,
  n: { 1: 300, 32: 2_000 },
  sizes: [1_000, 10_000, 100_000],
  lengthReps: 5,
  httpSeconds: 8,
  httpSessions: 1_000,
  memOps: 1_000_000,
  warmOps: 50_000,
  users: { sessions: 100_000, users: 10_000, gets: 20, calls: 5 },
};
const SMOKE = {
  rounds: 1,
  n: { 1: 20, 32: 64 },
  sizes: [100],
  lengthReps: 2,
  httpSeconds: 1,
  httpSessions: 20,
  memOps: 300,
  warmOps: 100,
  users: { sessions: 200, users: 20, gets: 5, calls: 2 },
};

/** Reads `argv` (flags as `--name` or `--name=value`); a bad value or phase name throws. */
export function parseArgs(argv: readonly string[]): Settings {
  const smoke = argv.includes('--smoke');
  const base = smoke ? SMOKE : FULL;
  const value = (name: string) =>
    argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const count = (name: string, fallback: number, least = 1) => {
    const text = value(name);
    if (text === undefined) return fallback;
    const n = Number(text);
    if (!Number.isSafeInteger(n) || n < least)
      throw new TypeError(`bench: --${name} must be an integer ≥ ${least}, got ${text}`);
    return n;
  };
  const phases = (value('phases') ?? PHASE_NAMES.join(',')).split(',');
  for (const p of phases) {
    if (!(PHASE_NAMES as readonly string[]).includes(p))
      throw new TypeError(`bench: no phase ${p}; the phases are ${PHASE_NAMES.join(', ')}`);
  }
  const users = {
    sessions: count('users-sessions', base.users.sessions),
    users: count('users', base.users.users),
    gets: base.users.gets,
    calls: count('users-calls', base.users.calls),
  };
  // Every user then has the same number of sessions, which the users phase checks.
  if (users.sessions % users.users !== 0)
    throw new TypeError('bench: --users-sessions must be a multiple of --users');
  return {
    smoke,
    phases: phases as PhaseName[],
    rounds: count('rounds', base.rounds),
    n: { 1: base.n[1], 32: count('n32', base.n[32]) },
    sizes: base.sizes,
    lengthReps: base.lengthReps,
    httpSeconds: count('http-seconds', base.httpSeconds),
    httpSessions: count('http-sessions', base.httpSessions, 0),
    httpRows: value('http-rows')?.split(','),
    memOps: count('memory-ops', base.memOps),
    warmOps: count('warm-ops', base.warmOps),
    memoryConcurrency: count('memory-concurrency', 32),
    memoryIds: count('memory-ids', 1_009),
    users,
    stores: value('stores')?.split(','),
    label: value('label'),
    baselines: value('baseline')?.split(',') ?? [],
  };
}

/** Runs a benchmark script's `main`: exit 0 when it resolves, 1 with the error when it fails. */
export function runMain(main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (err: Error) => {
      console.error(err);
      process.exit(1);
    },
  );
}
