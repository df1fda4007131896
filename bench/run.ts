// npm run bench [-- --smoke]: our store side by side with connect-mongo, connect-mongodb-session
// and the raw driver, interleaved round by round in one process against one server.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import v8 from 'node:v8';
import vm from 'node:vm';
import express from 'express';
import session, { type SessionData, type Store } from 'express-session';
import mongoose, { mongo } from 'mongoose';
import { describeServer, resolveServer } from '../tools/test-server';
import {
  type Arena,
  type Contestant,
  connectMongo,
  connectMongoDBSessionStore,
  ours,
  rawDriver,
} from './contestants';
import { cpuSince, merge, type Sample, summarize, timeCallbacks, timeOps } from './measure';

const SMOKE = process.argv.includes('--smoke');
const P = SMOKE
  ? {
      rounds: 1,
      n: { 1: 20, 32: 64 },
      sizes: [100],
      lengthReps: 2,
      httpSeconds: 1,
      memOps: 300,
      warmOps: 100,
    }
  : {
      rounds: 3,
      n: { 1: 300, 32: 2_000 },
      sizes: [1_000, 10_000, 100_000],
      lengthReps: 5,
      httpSeconds: 8,
      memOps: 1_000_000,
      warmOps: 50_000,
    };
/** `--name=N` on the command line, if given. */
const flag = (name: string) => {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  return arg === undefined ? undefined : Number(arg.split('=')[1]);
};
P.memOps = flag('memory-ops') ?? P.memOps;
P.warmOps = flag('warm-ops') ?? P.warmOps;
/** Concurrency of the memory phase; FerretDB's write lock makes high values crawl. */
const MEMORY_CONCURRENCY = flag('memory-concurrency') ?? 32;
/**
 * Session ids the memory phase cycles through. A prime, so that every id meets every kind of
 * operation (with 10,000 ids and a cycle of 20 kinds, each id only ever met one). Kept small by
 * default because FerretDB 1.x scans the whole table for every lookup by `_id`.
 */
const MEMORY_IDS = flag('memory-ids') ?? 1_009;
P.rounds = flag('rounds') ?? P.rounds;
P.n[32] = flag('n32') ?? P.n[32];
/** Skips cost microseconds: many more of them are needed for a stable figure. */
const TOUCH_AFTER_FACTOR = 200;
const LEVELS = [1, 32] as const;
/** --phases=operations,length,http,memory (default: all) picks what to run. */
const PHASES = new Set(
  (
    process.argv.find((a) => a.startsWith('--phases='))?.split('=')[1] ??
    'operations,length,http,memory'
  ).split(','),
);
const DAY = 86_400_000;

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** A session as express-session would hand it over: cookie first, then some data. */
function sess(i: number, expiresIn = DAY, extra: Record<string, unknown> = {}): SessionData {
  return {
    cookie: {
      originalMaxAge: DAY,
      expires: new Date(Date.now() + expiresIn),
      httpOnly: true,
      path: '/',
    },
    user: { id: `u${i}`, name: 'Ada Lovelace', roles: ['reader', 'writer'] },
    cart: [
      { sku: 'A-1', qty: 2 },
      { sku: 'B-7', qty: 1 },
    ],
    views: i,
    ...extra,
  } as unknown as SessionData;
}

type Measured = {
  op: string;
  level: number;
  store: string;
  opsPerSec: number;
  p50: number;
  p99: number;
  /** CPU of the benchmark process per operation (µs): the client's share of the cost. */
  cpuUsPerOp: number;
  errors?: number;
  messages?: string[];
};
/** An operation the store does not have: its row shows n/a. */
type Lacking = { op: string; level: number; store: string; lacking: true };
type Row = Measured | Lacking;
const rows: Row[] = [];
/** The batches of each op, level and store; null when the store lacks the op. */
const samples = new Map<string, Sample | null>();
const key = (op: string, level: number, store: string) => `${op}\u0000${level}\u0000${store}`;

const progress = (what: string) =>
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${what}\n`);

/** ops/s of each batch, round by round: the spread of the ratios shows what is noise. */
const perRound = new Map<string, number[]>();

/** Adds one round's batch to the totals of `op` at `level` for `store`. */
function tally(op: string, level: number, store: string, sample: Sample): void {
  const k = key(op, level, store);
  samples.set(k, merge(samples.get(k) ?? undefined, sample));
  append(perRound, k, summarize(sample).opsPerSec);
}

const measured = (r: Row): r is Measured => !('lacking' in r);

/** The table row of `op` at `level` for `store`, from its batches or null if it lacks `op`. */
function row(op: string, level: number, store: string, sample: Sample | null): Row {
  return sample === null
    ? { op, level, store, lacking: true }
    : { op, level, store, ...summarize(sample) };
}

/** Adds `value` to the list under `k`. */
function append<T>(lists: Map<string, T[]>, k: string, value: T): void {
  const list = lists.get(k);
  if (list === undefined) lists.set(k, [value]);
  else list.push(value);
}

/** Times `fn` for `c`; no `fn` means `c` lacks the operation, and its row shows n/a. */
async function timed(
  op: string,
  level: number,
  c: Contestant,
  n: number,
  fn: ((i: number) => Promise<unknown>) | undefined,
) {
  if (fn === undefined) {
    samples.set(key(op, level, c.name), null);
    return;
  }
  if (process.env.BENCH_TRACE) progress(`${op} ${level} ${c.name}`);
  tally(op, level, c.name, await timeOps(n, level, fn));
}

/** The per-operation benchmark: each round runs every op for every contestant before the next op. */
async function operations(plain: Contestant[], withTouchAfter: Contestant[]): Promise<void> {
  // Unrecorded warm-up, so that no contestant pays for JIT, pools and a cold server.
  for (const c of [...plain, ...withTouchAfter]) {
    await timeOps(200, 8, async (i) => {
      await c.set(`warm-${i}`, sess(i));
      await c.get(`warm-${i}`);
      await c.touch?.(`warm-${i}`, sess(i, DAY + 1_000));
      await c.destroy(`warm-${i}`);
    });
  }
  for (let round = 0; round < P.rounds; round++) {
    for (const level of LEVELS) {
      progress(`operations: round ${round + 1}/${P.rounds}, concurrency ${level}`);
      const n = P.n[level];
      // Rotate who goes first, so no contestant always meets a warmer or colder server.
      const order = plain.map((_, i) => plain[(i + round) % plain.length]);
      const ids = (c: Contestant) => (i: number) => `${c.name}-${round}-${level}-${i}`;
      const step = async (
        op: string,
        fn: (
          c: Contestant,
          id: (i: number) => string,
        ) => ((i: number) => Promise<unknown>) | undefined,
      ) => {
        for (const c of order) await timed(op, level, c, n, fn(c, ids(c)));
      };
      await step('set (new)', (c, id) => (i) => c.set(id(i), sess(i)));
      await step('get (hit)', (c, id) => (i) => c.get(id(i)));
      await step('get (miss)', (c) => (i) => c.get(`missing-${round}-${i}`));
      await step('set (existing)', (c, id) => (i) => c.set(id(i), sess(i, DAY, { views: i + 1 })));
      await step('touch', ({ touch }, id) => touch && ((i) => touch(id(i), sess(i, DAY + 60_000))));
      await step('destroy', (c, id) => (i) => c.destroy(id(i)));

      // touchAfter: sessions loaded as express-session would (get at request start), then
      // touched at the end of a request that came soon after the last write.
      for (const c of withTouchAfter.map(
        (_, i) => withTouchAfter[(i + round) % withTouchAfter.length],
      )) {
        // One string per session, as express-session passes the same req.sessionID to get
        // and to touch: building a new one per call would time string building instead.
        const ids = Array.from({ length: n }, (_, i) => `${c.name}-ta-${round}-${level}-${i}`);
        for (let i = 0; i < n; i++) await c.set(ids[i], sess(i));
        const loaded: SessionData[] = [];
        for (let i = 0; i < n; i++) loaded.push((await c.get(ids[i])) as SessionData);
        // Each loaded session's cookie now ends 1 s later than stored: inside touchAfter.
        for (const s of loaded) {
          s.cookie = {
            ...s.cookie,
            expires: new Date(new Date(s.cookie.expires as Date).getTime() + 1_000),
          } as SessionData['cookie'];
        }
        const store = c.store as Store & { touch: NonNullable<Store['touch']> };
        const sample = await timeCallbacks(n * TOUCH_AFTER_FACTOR, level, (j, done) => {
          store.touch(ids[j % n], loaded[j % n], done);
        });
        tally('touch (touchAfter)', level, c.name, sample);
        // Leave no rows behind: on FerretDB every later lookup would scan them.
        for (const sid of ids) await c.destroy(sid);
      }
    }
  }
  for (const [k, s] of samples) {
    const [op, level, store] = k.split('\u0000');
    rows.push(row(op, Number(level), store, s));
  }
}

/** length over N sessions, half of them expired but not yet deleted. */
async function lengths(contestants: Contestant[]): Promise<void> {
  for (const size of P.sizes) {
    progress(`length over ${size} sessions`);
    for (const c of contestants) if (c.length) await c.seed(size);
    const acc = new Map<string, Sample | null>();
    for (let rep = 0; rep < P.lengthReps; rep++) {
      for (const c of contestants) {
        const length = c.length;
        if (length === undefined) {
          acc.set(c.name, null);
          continue;
        }
        const s = await timeOps(1, 1, async () => {
          const n = await length();
          if (
            c.name !== 'connect-mongo' &&
            c.name !== 'connect-mongodb-session' &&
            n !== size / 2
          ) {
            throw new Error(
              `${c.name} counted ${n} live sessions of ${size}, expected ${size / 2}`,
            );
          }
        });
        acc.set(c.name, merge(acc.get(c.name) ?? undefined, s));
      }
    }
    for (const [store, s] of acc) rows.push(row(`length (${size})`, 1, store, s));
  }
}

/** A full request cycle: express + express-session + the store, loaded from a second process. */
async function http(contestants: Contestant[]): Promise<void> {
  const stores = contestants.filter((c) => c.store !== undefined);
  const runs = new Map<string, Awaited<ReturnType<typeof load>>[]>();
  for (let round = 0; round < P.rounds; round++) {
    for (const route of ['write', 'read'] as const) {
      for (const level of LEVELS) {
        for (const c of stores.map((_, i) => stores[(i + round) % stores.length])) {
          progress(
            `HTTP ${route}, ${level} connections, ${c.name}, round ${round + 1}/${P.rounds}`,
          );
          const r = await load(c.store as Store, route, level);
          if (r.errors > 0) console.warn(`${c.name} ${route}: ${r.errors} failed requests`);
          const k = key(`HTTP ${route}`, level, c.name);
          append(runs, k, r);
        }
      }
    }
  }
  // Rounds last equally long: req/s is their mean; the latencies are the median round's.
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
  for (const [k, rs] of runs) {
    perRound.set(
      k,
      rs.map((r) => r.reqPerSec),
    );
    const [op, level, store] = k.split('\u0000');
    rows.push({
      op,
      level: Number(level),
      store,
      opsPerSec: rs.reduce((sum, r) => sum + r.reqPerSec, 0) / rs.length,
      p50: median(rs.map((r) => r.p50)),
      p99: median(rs.map((r) => r.p99)),
      cpuUsPerOp:
        rs.reduce((sum, r) => sum + r.cpuUs, 0) / rs.reduce((sum, r) => sum + r.requests, 0),
    });
  }
}

/** One load run against an express app on `store`; the load comes from a second process. */
async function load(
  store: Store,
  route: 'write' | 'read',
  level: number,
): Promise<{
  reqPerSec: number;
  requests: number;
  p50: number;
  p99: number;
  errors: number;
  /** This process's CPU (µs) while under load: express, express-session and the store. */
  cpuUs: number;
}> {
  const app = express();
  app.use(
    session({
      store,
      secret: 'bench',
      resave: false,
      saveUninitialized: false,
      cookie: { maxAge: DAY },
    }),
  );
  app.get('/', (req, res) => {
    const s = req.session as unknown as { views?: number };
    // 'write' changes the session on every request (get + set); 'read' only on the first (get + touch).
    if (route === 'write' || s.views === undefined) s.views = (s.views ?? 0) + 1;
    res.send(String(s.views));
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((ok) => server.once('listening', ok));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const tsx = join(__dirname, '..', 'node_modules', 'tsx', 'dist', 'cli.mjs');
  const cpu = process.cpuUsage();
  try {
    const { stdout } = await promisify(execFile)(process.execPath, [
      tsx,
      join(__dirname, 'load.ts'),
      url,
      String(level),
      String(P.httpSeconds),
    ]);
    return { ...JSON.parse(stdout.trim().split('\n').at(-1) as string), cpuUs: cpuSince(cpu) };
  } finally {
    server.closeAllConnections();
    await new Promise((ok) => server.close(ok));
  }
}

/** RSS of our store before and after many mixed operations, after a warm-up. */
async function memory(c: Contestant): Promise<string> {
  const touch = c.touch;
  if (touch === undefined) return `Memory: not run (${c.name} has no touch)`;
  const mixed = (i: number) => {
    const id = `mem-${i % MEMORY_IDS}`;
    const k = i % 20;
    if (k < 10) return c.get(id);
    if (k < 15) return c.set(id, sess(i));
    if (k < 19) return touch(id, sess(i, DAY + 1_000));
    return c.destroy(id);
  };
  progress(`memory: ${P.warmOps} warm-up and ${P.memOps} measured mixed operations`);
  await timeOps(P.warmOps, MEMORY_CONCURRENCY, mixed);
  gc();
  const before = process.memoryUsage().rss;
  const heapBefore = process.memoryUsage().heapUsed;
  const mb = (b: number) => (b / 1024 / 1024).toFixed(1);
  // Ten slices, with RSS after each, so growth shows as a curve rather than two points.
  const slice = Math.ceil(P.memOps / 10);
  const curve: string[] = [];
  let done = 0;
  let ns = 0;
  while (done < P.memOps) {
    const n = Math.min(slice, P.memOps - done);
    const s = await timeOps(n, MEMORY_CONCURRENCY, (i) => mixed(done + i));
    ns += s.wallNs;
    done += n;
    gc();
    curve.push(mb(process.memoryUsage().rss));
    progress(`memory: ${done} operations, RSS ${curve.at(-1)} MB`);
  }
  const after = process.memoryUsage().rss;
  // RSS is the target; the JS heap, after a full GC, is where a leak in the store would show first.
  const heap = `JS heap ${mb(heapBefore)} MB before and ${mb(process.memoryUsage().heapUsed)} MB after`;
  return `RSS ${mb(before)} MB before and ${mb(after)} MB after ${P.memOps.toLocaleString('en')} mixed operations over ${MEMORY_IDS.toLocaleString('en')} session ids at concurrency ${MEMORY_CONCURRENCY} (${((100 * (after - before)) / before).toFixed(1)} %; after each tenth: ${curve.join(', ')} MB), at ${(P.memOps / (ns / 1e9)).toFixed(0)} ops/s; ${heap}`;
}

function table(server: string, memoryLine: string, findings: string[]): string {
  const by = (op: string, level: number, store: string) =>
    rows.filter(measured).find((r) => r.op === op && r.level === level && r.store === store);
  const x = (v: number) => `${v.toFixed(2)}×`;
  // The overall ratio, then the lowest and highest of the round-by-round ratios.
  const ratio = (a?: Measured, b?: Measured) => {
    if (!a || !b) return '';
    const ra = perRound.get(key(a.op, a.level, a.store)) ?? [];
    const rb = perRound.get(key(b.op, b.level, b.store)) ?? [];
    const each = ra.map((v, i) => v / rb[i]).filter(Number.isFinite);
    const spread = each.length > 1 ? ` (${x(Math.min(...each))}–${x(Math.max(...each))})` : '';
    return `${x(a.opsPerSec / b.opsPerSec)}${spread}`;
  };
  const lines = [
    `# Benchmark${SMOKE ? ' (smoke run: tiny N, figures mean nothing)' : ''}`,
    '',
    `- Server: ${server}`,
    `- Node ${process.version}, mongoose ${mongoose.version}, ${process.env.npm_package_name ?? 'connect-mongoose-session'} ${process.env.npm_package_version ?? ''}`,
    `- Rounds: ${P.rounds}; operations per batch: ${P.n[1]} at concurrency 1, ${P.n[32]} at 32; 2 cores shared by Node, the server and the load generator`,
    `- ${memoryLine}`,
    ...findings.map((f) => `- ${f}`),
  ];
  if (rows.length > 0)
    lines.push(
      `- Ratios: over all rounds, then (in brackets) the lowest and the highest of the ${P.rounds} round-by-round ratios; a spread that straddles 1.00× is noise. HTTP: req/s is the mean of the rounds, p50 and p99 the median round's`,
      '- CPU µs/op: CPU time (user + system) of the benchmark process per operation: the store, its driver and, for HTTP, express. The server runs in another process and is not in it',
      '',
      '| operation | conc. | store | ops/s | p50 ms | p99 ms | CPU µs/op | errors | ours ÷ raw | ours ÷ connect-mongo |',
      '| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    );
  for (const r of rows) {
    if (!measured(r)) {
      lines.push(`| ${r.op} | ${r.level} | ${r.store} | n/a | n/a | n/a | n/a | | | |`);
      continue;
    }
    const isOurs = r.store.startsWith('ours');
    const raw = by(r.op, r.level, 'raw driver');
    const cm = by(
      r.op,
      r.level,
      r.op.includes('touchAfter') ? 'connect-mongo touchAfter' : 'connect-mongo',
    );
    lines.push(
      `| ${r.op} | ${r.level} | ${r.store} | ${r.opsPerSec.toFixed(0)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.cpuUsPerOp.toFixed(r.cpuUsPerOp < 10 ? 2 : 0)} | ${r.errors ?? 0} | ${isOurs ? ratio(r, raw) : ''} | ${isOurs ? ratio(r, cm) : ''} |`,
    );
  }
  const failures = rows.filter(measured).filter((r) => (r.errors ?? 0) > 0);
  if (failures.length > 0) {
    lines.push('', 'Failed operations (first messages):');
    for (const r of failures)
      lines.push(`- ${r.store}, ${r.op} at ${r.level}: ${r.messages?.join(' / ')}`);
  }
  return `${lines.join('\n')}\n`;
}

async function ttlIndexes(db: mongo.Db): Promise<boolean> {
  return db
    .collection('ttl_probe')
    .createIndex({ at: 1 }, { expireAfterSeconds: 0 })
    .then(
      () => true,
      () => false,
    );
}

async function main(): Promise<void> {
  const server = await resolveServer();
  const name = `cms_bench_${randomBytes(3).toString('hex')}`;
  const base = server.uri.replace(/\/[^/?]*(\?|$)/, `/${name}$1`);
  const client = await mongo.MongoClient.connect(base);
  const arena: Arena = { uri: base, db: client.db(name) };
  const opened: Contestant[] = [];
  try {
    const described = await describeServer(base);
    const ttl = await ttlIndexes(arena.db);
    console.log(`server: ${described}; TTL indexes: ${ttl ? 'yes' : 'no'}`);
    const findings: string[] = [
      `connect-mongo runs with autoRemove '${ttl ? 'native' : 'interval'}'`,
    ];
    const plain = [
      await ours(arena, 'ours', 'ours'),
      await connectMongo(arena, 'connect-mongo', 'cm', ttl),
      await rawDriver(arena, 'raw'),
    ];
    const cms = await connectMongoDBSessionStore(arena, 'cms');
    if (cms instanceof Error)
      findings.push(`connect-mongodb-session cannot run here: ${cms.message}`);
    else plain.push(cms);
    const withTouchAfter = [
      await ours(arena, 'ours touchAfter', 'ours_ta', 3_600_000),
      await connectMongo(arena, 'connect-mongo touchAfter', 'cm_ta', ttl, 3_600),
    ];
    opened.push(...plain, ...withTouchAfter);

    if (PHASES.has('operations')) await operations(plain, withTouchAfter);
    if (PHASES.has('length')) {
      // Collections of their own: the seeded 100k documents must not slow the HTTP phase.
      const counted = [
        await ours(arena, 'ours', 'ours_len'),
        await connectMongo(arena, 'connect-mongo', 'cm_len', ttl),
        await rawDriver(arena, 'raw_len'),
      ];
      opened.push(...counted);
      await lengths(counted);
    }
    if (PHASES.has('http')) await http(plain);
    const memoryLine = PHASES.has('memory')
      ? await memory(plain[0])
      : 'Memory: not run (see --phases)';
    const out = table(described, memoryLine, findings);
    console.log(`\n${out}`);
    const dir = join(__dirname, 'results');
    mkdirSync(dir, { recursive: true });
    const file = join(
      dir,
      SMOKE
        ? 'smoke.md'
        : `${new Date().toISOString().slice(0, 10)}-${server.kind}${PHASES.size < 4 ? `-${[...PHASES].join('+')}` : ''}.md`,
    );
    writeFileSync(file, out);
    console.log(`written to ${file}`);
  } finally {
    for (const c of opened) await c.close().catch(() => {});
    // A server we started goes away whole; dropping a database under FerretDB while its
    // SQLite files are mapped has crashed it (SIGBUS), so drop only on a server of yours.
    if (server.kind === 'external') await arena.db.dropDatabase().catch(() => {});
    await client.close();
    await server.stop();
  }
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    console.error(err);
    process.exit(1);
  },
);
