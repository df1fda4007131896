// Timing helpers: per-operation latencies from hrtime, aggregated across interleaved rounds.

/** Latencies (ns) and wall time (ns) of a batch, or of several batches added together. */
export interface Sample {
  latencies: number[];
  wallNs: number;
  /** CPU time of this process (user + system, µs) over the batch: what the client costs. */
  cpuUs: number;
  ops: number;
  /** Operations that failed; their messages, first few only. */
  errors: number;
  messages: string[];
}

function failed(s: { errors: number; messages: string[] }, err: unknown): void {
  s.errors += 1;
  if (s.messages.length < 3) s.messages.push(String((err as Error)?.message ?? err).slice(0, 160));
}

/** Runs `fn(i)` for i in [0, n) with `concurrency` workers, timing each call. */
export async function timeOps(
  n: number,
  concurrency: number,
  fn: (i: number) => Promise<unknown>,
): Promise<Sample> {
  const latencies = new Array<number>(n);
  const bad = { errors: 0, messages: [] as string[] };
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const t = process.hrtime.bigint();
      // A failed operation is counted and reported, never allowed to end the whole run.
      await fn(i).catch((err: unknown) => failed(bad, err));
      latencies[i] = Number(process.hrtime.bigint() - t);
    }
  };
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return {
    latencies,
    wallNs: Number(process.hrtime.bigint() - start),
    cpuUs: cpuSince(cpu),
    ops: n,
    ...bad,
  };
}

/** Adds `b` into `a` (a fresh sample when `a` is undefined). */
export function merge(a: Sample | undefined, b: Sample): Sample {
  if (a === undefined) return { ...b, latencies: [...b.latencies], messages: [...b.messages] };
  for (const l of b.latencies) a.latencies.push(l);
  a.wallNs += b.wallNs;
  a.cpuUs += b.cpuUs;
  a.ops += b.ops;
  a.errors += b.errors;
  a.messages.push(...b.messages.slice(0, Math.max(0, 3 - a.messages.length)));
  return a;
}

/** Microseconds of this process's CPU (user + system) since `start`. */
export function cpuSince(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start);
  return d.user + d.system;
}

/** Operations per second, p50 and p99 latency in milliseconds, and client CPU per operation. */
export function summarize(s: Sample): {
  opsPerSec: number;
  p50: number;
  p99: number;
  cpuUsPerOp: number;
  errors: number;
  messages: string[];
} {
  const sorted = [...s.latencies].sort((x, y) => x - y);
  const at = (q: number) =>
    sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] / 1e6;
  return {
    opsPerSec: s.ops / (s.wallNs / 1e9),
    p50: at(0.5),
    p99: at(0.99),
    cpuUsPerOp: s.cpuUs / s.ops,
    errors: s.errors,
    messages: s.messages,
  };
}

/**
 * Like {@link timeOps}, for operations that take a Node callback (as express-session calls a
 * store), with no promise in between: for microsecond operations, a promise wrapper per call
 * would cost more than the operation measured.
 */
export function timeCallbacks(
  n: number,
  concurrency: number,
  call: (i: number, done: () => void) => void,
): Promise<Sample> {
  const latencies = new Array<number>(n);
  let next = 0;
  let running = Math.min(concurrency, n);
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  return new Promise((resolve) => {
    // A store may call back synchronously (connect-mongo does when it skips a touch): loop
    // then, rather than recurse, or thousands of calls would overflow the stack.
    const worker = (): void => {
      while (next < n) {
        const i = next++;
        const t = process.hrtime.bigint();
        let returned = false;
        let finished = false;
        call(i, () => {
          latencies[i] = Number(process.hrtime.bigint() - t);
          if (returned) worker();
          else finished = true;
        });
        returned = true;
        if (!finished) return;
      }
      running -= 1;
      if (running === 0)
        resolve({
          latencies,
          wallNs: Number(process.hrtime.bigint() - start),
          cpuUs: cpuSince(cpu),
          ops: n,
          errors: 0,
          messages: [],
        });
    };
    // Count from a copy: a worker that finishes synchronously lowers \`running\` meanwhile.
    const workers = running;
    for (let w = 0; w < workers; w++) worker();
  });
}
