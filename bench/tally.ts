// The figures of a run, by operation, concurrency and store, with each round's rate kept
// apart: the spread of the round-by-round ratios shows what is noise.
import { merge, type Sample, summarize } from './measure';

/** A measured row of the table. */
export interface Measured {
  op: string;
  level: number;
  store: string;
  opsPerSec: number;
  /** Latencies in milliseconds. */
  p50: number;
  p99: number;
  /** CPU of the benchmark process per operation (µs): the client's share of the cost. */
  cpuUsPerOp: number;
  errors?: number;
  messages?: string[];
}
/** An operation the store does not have: its row shows n/a. */
export interface Lacking {
  op: string;
  level: number;
  store: string;
  lacking: true;
}
export type Row = Measured | Lacking;

export const isMeasured = (r: Row): r is Measured => !('lacking' in r);

/** One HTTP load run (one round of one row). */
export interface HttpRun {
  reqPerSec: number;
  requests: number;
  /** Latencies in milliseconds. */
  p50: number;
  p99: number;
  errors: number;
  /** This process's CPU (µs) while under load: express, express-session and the store. */
  cpuUs: number;
}

/** Which row: operation, concurrency, store. */
export interface RowKey {
  op: string;
  level: number;
  store: string;
}

type Entry =
  | { kind: 'ops'; key: RowKey; sample: Sample }
  | { kind: 'http'; key: RowKey; runs: HttpRun[] }
  | { kind: 'lacking'; key: RowKey };

/** A ratio of two rows' rates the report states, with its round-by-round spread. */
export interface Comparison {
  label: string;
  a: RowKey;
  b: RowKey;
}

const id = ({ op, level, store }: RowKey) => `${op}\u0000${level}\u0000${store}`;
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];

export class Tally {
  /** In the order rows first appear: the table's order. */
  private readonly entries = new Map<string, Entry>();
  /** ops/s of each batch or run, round by round. */
  private readonly rates = new Map<string, number[]>();
  readonly comparisons: Comparison[] = [];

  /** Adds one round's batch to a row. */
  add(key: RowKey, sample: Sample): void {
    const k = id(key);
    const entry = this.entries.get(k);
    if (entry?.kind === 'ops') merge(entry.sample, sample);
    else this.entries.set(k, { kind: 'ops', key, sample: merge(undefined, sample) });
    this.rate(k, summarize(sample).opsPerSec);
  }

  /** Adds one round's HTTP run to a row. */
  addRun(key: RowKey, run: HttpRun): void {
    const k = id(key);
    const entry = this.entries.get(k);
    if (entry?.kind === 'http') entry.runs.push(run);
    else this.entries.set(k, { kind: 'http', key, runs: [run] });
    this.rate(k, run.reqPerSec);
  }

  /** Records that the store lacks the operation: its row shows n/a. */
  lacking(key: RowKey): void {
    this.entries.set(id(key), { kind: 'lacking', key });
  }

  /** Asks the report to state `a`'s rate over `b`'s, e.g. a goal. */
  compare(label: string, a: RowKey, b: RowKey): void {
    this.comparisons.push({ label, a, b });
  }

  /** The rates of a row, round by round (empty when it was not measured). */
  perRound(key: RowKey): readonly number[] {
    return this.rates.get(id(key)) ?? [];
  }

  rows(): Row[] {
    return [...this.entries.values()].map((e): Row => {
      if (e.kind === 'lacking') return { ...e.key, lacking: true };
      if (e.kind === 'ops') return { ...e.key, ...summarize(e.sample) };
      // Rounds last equally long: req/s is their mean; the latencies are the median round's.
      const { runs } = e;
      return {
        ...e.key,
        opsPerSec: runs.reduce((sum, r) => sum + r.reqPerSec, 0) / runs.length,
        p50: median(runs.map((r) => r.p50)),
        p99: median(runs.map((r) => r.p99)),
        cpuUsPerOp:
          runs.reduce((sum, r) => sum + r.cpuUs, 0) / runs.reduce((sum, r) => sum + r.requests, 0),
        errors: runs.reduce((sum, r) => sum + r.errors, 0),
      };
    });
  }

  private rate(k: string, value: number): void {
    const list = this.rates.get(k);
    if (list === undefined) this.rates.set(k, [value]);
    else list.push(value);
  }
}
