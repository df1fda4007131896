// The cost of `expiredEvents` (issue 22): N expired sessions planted in a collection without
// a TTL index, then one store sweeping them every second, with the events on and off, in
// turns. For each: the time until all N are gone (and, with events, announced), this
// process's CPU, and the round trips by command.
//
//   tsx --tsconfig tsconfig.build.json bench/expiry-events.ts [--sessions=10000] [--rounds=1]
//     [--label=ferretdb2.7-documentdb]     (MONGODB_URI as for npm run bench; none: FerretDB 1.x)
import { randomBytes } from 'node:crypto';
import diagnosticsChannel from 'node:diagnostics_channel';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MongooseStore, OPERATION_CHANNEL, type OperationContext } from 'connect-mongoose-session';
import mongoose, { mongo } from 'mongoose';
import { describeServer, resolveServer } from '../tools/test-server';
import { runMain } from './args';
import { CommandLog, type CommandTotals } from './commands';
import { machineCpu } from './cpu';
import { progress } from './fixtures';
import { cpuSince } from './measure';

/** The sweeper's interval, ms: the issue's setting. */
const LIFECHECK = 1_000;
/** A run that has not finished by then is reported as it stands. */
const GIVE_UP_MS = 15 * 60_000;

interface Run {
  events: boolean;
  sessions: number;
  /** ms from opening the store until the last session was gone (and announced). */
  totalMs: number;
  /** ms from the first sweep's start until then: the work, without the first interval's wait. */
  sweepMs: number;
  sweeps: number;
  gone: number;
  announced: number;
  left: number;
  cpuUs: number;
  commands: CommandTotals;
  machineBusy: number | undefined;
}

const arg = (name: string) =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);

/** Our document format, as bench/contestants.ts seeds it: expired a minute ago. */
function expiredDoc(i: number, at: Date): mongo.Document {
  return {
    _id: `expired-${i}`,
    expiresAt: at,
    cookie: JSON.stringify({ originalMaxAge: 86_400_000, expires: at, httpOnly: true, path: '/' }),
    session: JSON.stringify({ passport: { user: `user-${i}` }, views: i }),
    user: `user-${i}`,
  };
}

async function plant(db: mongo.Db, name: string, n: number): Promise<void> {
  const coll = db.collection(name);
  await coll.deleteMany({});
  const at = new Date(Date.now() - 60_000);
  for (let i = 0; i < n; i += 1_000) {
    const batch = [];
    for (let j = i; j < Math.min(n, i + 1_000); j++) batch.push(expiredDoc(j, at));
    await coll.insertMany(batch, { ordered: false });
  }
}

async function once(uri: string, db: mongo.Db, name: string, n: number, events: boolean) {
  await plant(db, name, n);
  const log = new CommandLog();
  const connection = await mongoose.createConnection(uri, { monitorCommands: true }).asPromise();
  log.watch(connection.getClient());
  let firstSweep: bigint | undefined;
  let sweeps = 0;
  // Only the start of a sweep is wanted: the moment the first interval's wait ends.
  const startChannel = `tracing:${OPERATION_CHANNEL}:start`;
  const watcher = (message: unknown) => {
    if ((message as OperationContext).operation !== 'sweep') return;
    sweeps++;
    firstSweep ??= process.hrtime.bigint();
  };
  diagnosticsChannel.subscribe(startChannel, watcher);
  let gone = 0;
  let announced = 0;
  let finish: () => void = () => {};
  const done = new Promise<void>((ok) => {
    finish = ok;
  });
  const before = log.snapshot();
  const machine = machineCpu();
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  let store: MongooseStore | undefined;
  await new Promise<void>((ok, fail) => {
    store = new MongooseStore(
      null,
      {
        collection: name,
        connection,
        autoIndex: false,
        lifecheck: LIFECHECK,
        expiredEvents: events,
      },
      (err) => (err ? fail(err) : ok()),
    );
    store.on('error', (err) => progress(`store error: ${err.message}`));
    store.on('sweep', (deleted) => {
      gone += deleted;
      if (!events && gone >= n) finish();
    });
    store.on('expired', () => {
      announced++;
      if (announced >= n) finish();
    });
  });
  const timer = setTimeout(finish, GIVE_UP_MS);
  await done;
  const end = process.hrtime.bigint();
  const cpuUs = cpuSince(cpu);
  const after = machineCpu();
  const commands = log.since(before);
  clearTimeout(timer);
  diagnosticsChannel.unsubscribe(startChannel, watcher);
  await (store as MongooseStore).close();
  await connection.close();
  const left = await db.collection(name).countDocuments({});
  await db
    .collection(name)
    .drop()
    .catch(() => {});
  const run: Run = {
    events,
    sessions: n,
    totalMs: Number(end - start) / 1e6,
    sweepMs: firstSweep === undefined ? Number.NaN : Number(end - firstSweep) / 1e6,
    sweeps,
    gone: events ? announced : gone,
    announced,
    left,
    cpuUs,
    commands,
    machineBusy:
      machine && after
        ? (after.busyUs - machine.busyUs) / (after.totalUs - machine.totalUs)
        : undefined,
  };
  return run;
}

const roundTrips = (c: CommandTotals) => [...c.values()].reduce((sum, t) => sum + t.count, 0);

function table(runs: Run[]): string[] {
  const lines = [
    '| expiredEvents | round | sessions | gone | announced | left | total s | from 1st sweep s | sweeps | CPU ms | CPU µs / expiry | round trips | round trips / expiry | machine busy |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  const round = { true: 0, false: 0 };
  for (const r of runs) {
    const k = String(r.events) as 'true' | 'false';
    round[k]++;
    const trips = roundTrips(r.commands);
    lines.push(
      `| ${r.events} | ${round[k]} | ${r.sessions} | ${r.gone} | ${r.announced} | ${r.left} | ${(r.totalMs / 1e3).toFixed(2)} | ${(r.sweepMs / 1e3).toFixed(2)} | ${r.sweeps} | ${(r.cpuUs / 1e3).toFixed(0)} | ${(r.cpuUs / r.sessions).toFixed(1)} | ${trips} | ${(trips / r.sessions).toFixed(3)} | ${r.machineBusy === undefined ? '' : `${(r.machineBusy * 100).toFixed(0)} %`} |`,
    );
  }
  lines.push('', 'Round trips by command (all rounds of each mode together):', '');
  for (const events of [true, false]) {
    const sum = new Map<string, number>();
    for (const r of runs.filter((x) => x.events === events))
      for (const [name, t] of r.commands) sum.set(name, (sum.get(name) ?? 0) + t.count);
    lines.push(
      `- expiredEvents ${events}: ${[...sum].map(([name, count]) => `${name} ${count}`).join(', ')}`,
    );
  }
  return lines;
}

async function main(): Promise<void> {
  const n = Number(arg('sessions') ?? 10_000);
  const rounds = Number(arg('rounds') ?? 1);
  const server = await resolveServer();
  const name = `cms_expiry_${randomBytes(3).toString('hex')}`;
  const uri = server.uri.replace(/\/[^/?]*(\?|$)/, `/${name}$1`);
  const client = await mongo.MongoClient.connect(uri);
  const db = client.db(name);
  try {
    const described = await describeServer(uri);
    const runs: Run[] = [];
    for (let round = 0; round < rounds; round++) {
      // In turns, each mode first every other round: neither always meets a warmer server.
      const order = round % 2 === 0 ? [true, false] : [false, true];
      for (const events of order) {
        progress(`expiry: round ${round + 1}/${rounds}, expiredEvents ${events}, ${n} sessions`);
        const r = await once(uri, db, `exp_${events ? 'events' : 'plain'}_${round}`, n, events);
        progress(
          `  ${(r.totalMs / 1e3).toFixed(2)} s, ${(r.cpuUs / n).toFixed(1)} µs CPU and ${(roundTrips(r.commands) / n).toFixed(3)} round trips per expiry`,
        );
        runs.push(r);
      }
    }
    const out = [
      '# Expiry events: the cost of announcing expiries (issue 22)',
      '',
      `- Server: ${described}`,
      `- Node ${process.version}, mongoose ${mongoose.version}; 2 cores shared by Node and the server`,
      `- ${n} sessions expired a minute before the store opens, in a collection without a TTL index (autoIndex: false); one store, lifecheck ${LIFECHECK} ms, on a connection of its own with monitorCommands`,
      '- total: from opening the store until the last session was gone (expiredEvents false: the sweep events add up to all) or announced (true: the last `expired` event); it includes the wait for the first sweep (lifecheck ± 10 %)',
      '- CPU: this process (user + system) over that window: the store, its driver, the listener (a counter); the server is in another process',
      "- round trips: every command the store's connection sent in that window (lease included)",
      '- machine busy: the share of all cores busy over the window (the server and anything else running)',
      '',
      ...table(runs),
    ].join('\n');
    console.log(`\n${out}`);
    const dir = join(__dirname, 'results');
    mkdirSync(dir, { recursive: true });
    const file = join(
      dir,
      `${new Date().toISOString().slice(0, 10)}-${arg('label') ?? server.kind}-expiry-events-${n}.md`,
    );
    writeFileSync(file, `${out}\n`);
    console.log(`written to ${file}`);
  } finally {
    if (server.kind === 'external') await db.dropDatabase().catch(() => {});
    await client.close();
    await server.stop();
  }
}

runMain(main);
