// A full request cycle: express + express-session + the store, loaded from a second process.
// Beside each row's rate, where a request's time goes: this process's CPU, the server's, the
// load generator's, and the round trips the store made, as the driver timed them.
import type { Store } from 'express-session';
import { benchApp, CHANGE_EVERY, type Scenario, type TouchSetting } from '../app';
import { addTotals, CommandLog, type CommandTotal, type CommandTotals } from '../commands';
import {
  type Contestant,
  connectMongo,
  connectMongoDBSessionStore,
  ours,
  type TouchAfter,
} from '../contestants';
import { machineCpu } from '../cpu';
import { drive } from '../drive';
import { progress } from '../fixtures';
import { cpuSince } from '../measure';
import type { RowKey } from '../tally';
import { type Context, ifItRuns, type Phase } from './phase';

const LEVELS = [1, 32] as const;

/** The rows, in order; a new row is one more line. */
export const SCENARIOS: Scenario[] = [
  {
    name: 'write',
    op: 'HTTP write',
    route: 'write',
    resave: false,
    rolling: false,
    touch: 'every',
  },
  { name: 'read', op: 'HTTP read', route: 'read', resave: false, rolling: false, touch: 'every' },
  {
    name: 'read-defaults',
    op: 'HTTP read, defaults',
    route: 'read',
    resave: false,
    rolling: false,
    touch: 'defaults',
  },
  {
    name: 'read-60s',
    op: 'HTTP read, touchAfter 60 s',
    route: 'read',
    resave: false,
    rolling: false,
    touch: '60 s',
  },
  {
    name: 'app',
    op: 'HTTP app, resave: false',
    route: 'app',
    resave: false,
    rolling: false,
    touch: 'every',
  },
  {
    name: 'app-resave',
    op: 'HTTP app, resave: true',
    route: 'app',
    resave: true,
    rolling: false,
    touch: 'every',
  },
  {
    name: 'app-rolling',
    op: 'HTTP app, rolling: true',
    route: 'app',
    resave: true,
    rolling: true,
    touch: 'every',
  },
];

/** The stores of rows with one {@link TouchSetting}, each on its own collection and log. */
async function openStores(ctx: Context, touch: TouchSetting): Promise<Contestant[]> {
  const { arena } = ctx;
  const tag = { every: '', defaults: '_def', '60 s': '_60s' }[touch];
  const [oursTa, cmTa]: [TouchAfter, TouchAfter] =
    touch === 'every' ? [0, 0] : touch === 'defaults' ? ['default', 'default'] : [60_000, 60];
  return [
    await ctx.open(ours(arena, 'ours', `ours_http${tag}`, oursTa, new CommandLog())),
    await ctx.open(
      connectMongo(arena, 'connect-mongo', `cm_http${tag}`, ctx.ttl, cmTa, new CommandLog()),
    ),
    ...(touch === '60 s'
      ? []
      : await ifItRuns(ctx, connectMongoDBSessionStore(arena, `cms_http${tag}`, new CommandLog()))),
  ];
}

/** What one run cost each side, in µs, and the store's round trips. */
interface Spent {
  requests: number;
  wallUs: number;
  nodeUs: number;
  loadUs: number;
  serverUs: number | undefined;
  machineBusyUs: number | undefined;
  commands: CommandTotals;
}

export const http: Phase = {
  async run(ctx) {
    const { settings } = ctx;
    const scenarios = pick(settings.httpRows);
    const storesOf = new Map<TouchSetting, Contestant[]>();
    for (const { touch } of scenarios)
      if (!storesOf.has(touch)) storesOf.set(touch, await openStores(ctx, touch));
    const spent = new Map<string, Spent[]>();
    for (let round = 0; round < settings.rounds; round++) {
      // Rotate the rows too: rows compared with each other meet the same neighbours' load.
      for (const scenario of scenarios.map((_, i) => scenarios[(i + round) % scenarios.length])) {
        const stores = storesOf.get(scenario.touch) ?? [];
        for (const level of LEVELS) {
          for (const c of stores.map((_, i) => stores[(i + round) % stores.length])) {
            progress(
              `${scenario.op}, ${level} connections, ${c.name}, round ${round + 1}/${settings.rounds}`,
            );
            // Every run starts from the same stored sessions, whatever ran before it.
            await c.seed(settings.httpSessions);
            const app = benchApp(c.store as Store, scenario);
            const { load, watched } = await drive(app, level, settings.httpSeconds, () =>
              watch(ctx, c.commands),
            );
            if (load.errors > 0)
              console.warn(`${c.name} ${scenario.op}: ${load.errors} failed requests`);
            const key = { op: scenario.op, level, store: c.name };
            ctx.tally.addRun(key, { ...load, cpuUs: watched.nodeUs });
            const list = spent.get(JSON.stringify(key)) ?? [];
            list.push({ ...watched, requests: load.requests, loadUs: load.loadCpuUs });
            spent.set(JSON.stringify(key), list);
          }
        }
      }
    }
    for (const level of LEVELS) {
      const row = (op: string, store = 'ours') => ({ op, level, store });
      ctx.tally.compare(
        `HTTP read, defaults, ours ÷ connect-mongo, concurrency ${level} (goal ≥ 1.5×)`,
        row('HTTP read, defaults'),
        row('HTTP read, defaults', 'connect-mongo'),
      );
      ctx.tally.compare(
        `HTTP read, touchAfter 60 s, ours ÷ connect-mongo, concurrency ${level} (goal ≥ 1.0×)`,
        row('HTTP read, touchAfter 60 s'),
        row('HTTP read, touchAfter 60 s', 'connect-mongo'),
      );
      ctx.tally.compare(
        `ours, HTTP app \`resave: true\` ÷ \`resave: false\`, concurrency ${level} (goal ≥ 0.95×)`,
        row('HTTP app, resave: true'),
        row('HTTP app, resave: false'),
      );
      ctx.tally.compare(
        `HTTP app \`resave: true\`, ours ÷ connect-mongo, concurrency ${level} (goal ≥ 1.2×)`,
        row('HTTP app, resave: true'),
        row('HTTP app, resave: true', 'connect-mongo'),
      );
      ctx.tally.compare(
        `ours, HTTP app \`rolling: true\` ÷ \`resave: false\`, concurrency ${level}`,
        row('HTTP app, rolling: true'),
        row('HTTP app, resave: false'),
      );
      ctx.tally.compare(
        `HTTP app \`rolling: true\`, ours ÷ connect-mongo, concurrency ${level}`,
        row('HTTP app, rolling: true'),
        row('HTTP app, rolling: true', 'connect-mongo'),
      );
    }
    ctx.section(whereTimeGoes(spent, ctx.server === undefined, settings.httpSessions));
  },
};

/** The rows `--http-rows` names, in table order; all by default. */
function pick(names: readonly string[] | undefined): Scenario[] {
  if (names === undefined) return SCENARIOS;
  for (const name of names) {
    if (!SCENARIOS.some((s) => s.name === name))
      throw new TypeError(
        `bench: no HTTP row ${name}; the rows are ${SCENARIOS.map((s) => s.name).join(', ')}`,
      );
  }
  return SCENARIOS.filter((s) => names.includes(s.name));
}

/** Starts measuring a run; the function it gives stops and says what each side spent. */
function watch(
  ctx: Context,
  log: CommandLog | undefined,
): () => Omit<Spent, 'requests' | 'loadUs'> {
  const started = process.hrtime.bigint();
  const node = process.cpuUsage();
  const server = ctx.server?.cpuUs();
  const machine = machineCpu();
  const commands = log?.snapshot() ?? new Map<string, CommandTotal>();
  return () => {
    const serverNow = ctx.server?.cpuUs();
    const machineNow = machineCpu();
    return {
      wallUs: Number(process.hrtime.bigint() - started) / 1e3,
      nodeUs: cpuSince(node),
      serverUs: server === undefined || serverNow === undefined ? undefined : serverNow - server,
      machineBusyUs:
        machine === undefined || machineNow === undefined
          ? undefined
          : machineNow.busyUs - machine.busyUs,
      commands: log?.since(commands) ?? new Map(),
    };
  };
}

/** The section that splits each row's request into what each process spent and waited. */
function whereTimeGoes(spent: Map<string, Spent[]>, noServer: boolean, stored: number): string[] {
  const ms = (us: number | undefined, requests: number) =>
    us === undefined ? 'n/a' : (us / requests / 1e3).toFixed(2);
  const lines = [
    '## Where the time of an HTTP request goes',
    '',
    `Each run starts with ${stored.toLocaleString('en')} other sessions stored in the store's collection, half of them expired and not yet swept, and nothing else. The \`app\` route is a signed-in user browsing: the first request signs in (passport's \`passport.user\`, a profile, a three-item cart and a CSRF token, about 600 bytes of session), every request reads them, and one request in ${CHANGE_EVERY} changes the cart. \`write\` changes a counter on every request, \`read\` only on the first. \`rolling: true\` runs with \`resave: true\`: express-session moves the cookie's expiry on every request whatever \`rolling\` says, and \`rolling\` only sends the cookie again; with \`resave: false\` its store calls are the \`resave: false\` row's. Every row runs ours and connect-mongo with \`touchAfter: 0\` (every touch writes) beside connect-mongodb-session (which never touches), but \`HTTP read, defaults\`, each store at its defaults (ours adaptive: a touch is skipped while it would move the stored expiry by less than 1 % of the lifetime, at most 60 s; connect-mongo 0), and \`HTTP read, touchAfter 60 s\`, ours at 60,000 ms and connect-mongo at 60 s.`,
    '',
    `Per request, summed over the rounds: CPU time of this process (express, express-session, the store and its driver), of the server${noServer ? ' (n/a: not started by this run)' : ''}, of the load generator, and of the whole machine (all processes, including other users'); then the store's round trips to the server as the driver timed them (wait included), by command: count per request × mean ms.`,
    '',
    '| row | conc. | store | req/s | mean latency ms | Node CPU ms | server CPU ms | load gen. CPU ms | machine CPU ms | round trips/req | round trips: count × ms |',
    '| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const [k, runs] of spent) {
    const { op, level, store } = JSON.parse(k) as RowKey;
    const sum = (f: (s: Spent) => number | undefined) => {
      const values = runs.map(f);
      return values.includes(undefined)
        ? undefined
        : (values as number[]).reduce((a, b) => a + b, 0);
    };
    const requests = sum((r) => r.requests) ?? 0;
    if (requests === 0) continue;
    const commands = new Map<string, CommandTotal>();
    for (const r of runs) addTotals(commands, r.commands);
    const trips = [...commands.values()].reduce((n, t) => n + t.count, 0);
    const byCommand = [...commands]
      .sort(([, a], [, b]) => b.ms - a.ms)
      .map(
        ([name, t]) =>
          `${name} ${(t.count / requests).toFixed(2)} × ${(t.ms / t.count).toFixed(2)}`,
      )
      .join(', ');
    lines.push(
      `| ${op} | ${level} | ${store} | ${((requests / (sum((r) => r.wallUs) ?? 1)) * 1e6).toFixed(0)} | ${ms((sum((r) => r.wallUs) ?? 0) * level, requests)} | ${ms(
        sum((r) => r.nodeUs),
        requests,
      )} | ${ms(
        sum((r) => r.serverUs),
        requests,
      )} | ${ms(
        sum((r) => r.loadUs),
        requests,
      )} | ${ms(
        sum((r) => r.machineBusyUs),
        requests,
      )} | ${(trips / requests).toFixed(2)} | ${byCommand} |`,
    );
  }
  return lines;
}
