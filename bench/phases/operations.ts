// Each store operation timed alone: every round runs every op for every contestant before
// the next op, at concurrency 1 and 32.

import { basename, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { MongooseStoreOptions } from 'connect-mongoose-session';
import type { SessionData, Store } from 'express-session';
import {
  BENCH_SECRET,
  type Contestant,
  connectMongo,
  connectMongoDBSessionStore,
  ours,
  rawDriver,
} from '../contestants';
import { DAY, progress, sess } from '../fixtures';
import { timeCallbacks, timeOps } from '../measure';
import { Tracer } from '../tracer';
import { type Context, ifItRuns, type Phase } from './phase';

const LEVELS = [1, 32] as const;
/** Our store with `secret` set, beside the same without it. */
const SECRET_ROW = 'ours secret';
/**
 * Our store with the device options of issue 21 on: every write records the device, the
 * absolute lifetime bounds every expiry, and a signed-in set checks the user's cap.
 */
const DEVICES_ROW = 'ours devices';
/**
 * The same three options one at a time, only when `--stores` names them: which of them the
 * devices row's cost comes from.
 */
const DEVICE_PARTS: [name: string, options: Partial<MongooseStoreOptions>][] = [
  ['ours metadata', { metadata: { ip: true, userAgent: true } }],
  ['ours maxLifetime', { maxLifetime: DAY }],
  ['ours maxSessionsPerUser', { maxSessionsPerUser: 5 }],
];
/** Our store while a metrics exporter listens on its tracing channel (issue 23). */
const TRACED_ROW = 'ours traced';
/** The row of a baseline build (`--baseline`): named after its directory. */
const baselineRow = (dir: string) => `ours @${basename(resolve(dir))}`;
/** A baseline build with `secret`: only when `--stores` names it. */
const secretBaselineRow = (dir: string) => `${SECRET_ROW} @${basename(resolve(dir))}`;
/** Skips cost microseconds: many more of them are needed for a stable figure. */
const TOUCH_AFTER_FACTOR = 200;

type Op = (i: number) => Promise<unknown>;
/**
 * One row per contestant: the op it times, given a contestant, its ids and how many it will
 * time; none means n/a. What it prepares before it gives the op is not timed.
 */
type Step = [
  name: string,
  op: (
    c: Contestant,
    id: (i: number) => string,
    round: number,
    n: number,
  ) => Op | undefined | Promise<Op | undefined>,
];

/**
 * The rows, in order; a new row is one more line. Which filter and update each makes ours
 * (and the raw driver, which does the same) send:
 * - `set`: `{ _id }`, a full write with upsert (a session object the store never read);
 * - `get`: findOne `{ _id }`;
 * - `touch`: as express-session touches at the end of a request that left the session
 *   unchanged: the request's session (`load`: get, then createSession), its cookie moved on.
 *   `{ _id }` alone: the store loaded it live in this request;
 * - `touch (direct)`: a session object the store never read, as a caller outside
 *   express-session passes: `{ _id, expiresAt: { $gt: now } }`, only a live session moves;
 * - `destroy`: deleteOne `{ _id }`.
 */
const STEPS: Step[] = [
  ['set (new)', (c, id) => (i) => c.set(id(i), sess(i))],
  ['get (hit)', (c, id) => (i) => c.get(id(i))],
  ['get (miss)', (c, _id, round) => (i) => c.get(`missing-${round}-${i}`)],
  ['set (existing)', (c, id) => (i) => c.set(id(i), sess(i, DAY, { views: i + 1 }))],
  ['touch', (c, id, _round, n) => inRequestTouch(c, id, n)],
  ['touch (direct)', ({ touch }, id) => touch && ((i) => touch(id(i), sess(i, DAY + 120_000)))],
  ['destroy', (c, id) => (i) => c.destroy(id(i))],
];

/** The request's sessions, loaded untimed; the op then touches each with its cookie 60 s on. */
async function inRequestTouch(
  c: Contestant,
  id: (i: number) => string,
  n: number,
): Promise<Op | undefined> {
  const { touch } = c;
  if (touch === undefined) return undefined;
  const loaded: SessionData[] = [];
  await timeOps(n, 32, async (i) => {
    const s = await c.load(id(i));
    if (s === null) throw new Error('bench: a session to touch is missing');
    // What express-session's resetMaxAge does at the start of a request, made the same for all:
    // the expiry moves on, `originalMaxAge` stays. (Setting `expires` on express-session's
    // cookie also sets `originalMaxAge` to the time left, a change of the cookie that a real
    // request never makes; until 2026-12-07 this row did that, and ours wrote the cookie.)
    // The raw driver's cookie is parsed JSON: its expiry a string.
    const { originalMaxAge } = s.cookie;
    s.cookie.expires = new Date(new Date(s.cookie.expires as Date | string).getTime() + 60_000);
    s.cookie.originalMaxAge = originalMaxAge;
    loaded[i] = s;
  });
  return (i) => touch(id(i), loaded[i]);
}

export const operations: Phase = {
  async run(ctx) {
    const { arena, settings, tally } = ctx;
    // Only the contestants --stores names (all by default) are opened at all.
    const wanted = (name: string) => settings.stores?.includes(name) ?? true;
    const opening = async (name: string, open: () => Promise<Contestant | Error>) =>
      wanted(name) ? ifItRuns(ctx, open()) : [];
    const tracer = new Tracer();
    const plain = [
      ...(await opening('ours', () => ours(arena, 'ours', 'ours'))),
      ...(await opening(SECRET_ROW, () =>
        ours(arena, SECRET_ROW, 'ours_secret', 0, undefined, BENCH_SECRET),
      )),
      ...(await opening(DEVICES_ROW, () =>
        ours(arena, DEVICES_ROW, 'ours_devices', 0, undefined, undefined, {
          metadata: { ip: true, userAgent: true },
          maxLifetime: DAY,
          maxSessionsPerUser: 5,
        }),
      )),
      ...(
        await Promise.all(
          DEVICE_PARTS.filter(([name]) => settings.stores?.includes(name)).map(
            ([name, options], i) =>
              opening(name, () =>
                ours(arena, name, `ours_part${i}`, 0, undefined, undefined, options),
              ),
          ),
        )
      ).flat(),
      ...(
        await Promise.all(
          settings.baselines.map(async (dir, i) => {
            const built = pathToFileURL(resolve(dir, 'dist/esm/index.js')).href;
            const base = async () =>
              ((await import(built)) as typeof import('connect-mongoose-session')).MongooseStore;
            const name = baselineRow(dir);
            const sealed = secretBaselineRow(dir);
            return [
              ...(await opening(name, async () =>
                ours(arena, name, `ours_base${i}`, 0, undefined, undefined, {}, await base()),
              )),
              ...(settings.stores?.includes(sealed)
                ? await opening(sealed, async () =>
                    ours(
                      arena,
                      sealed,
                      `ours_sbase${i}`,
                      0,
                      undefined,
                      BENCH_SECRET,
                      {},
                      await base(),
                    ),
                  )
                : []),
            ];
          }),
        )
      ).flat(),
      ...(await opening(TRACED_ROW, async () => {
        const c = await ours(arena, TRACED_ROW, 'ours_traced');
        c.around = async (batch) => {
          tracer.subscribe();
          try {
            return await batch();
          } finally {
            tracer.unsubscribe();
          }
        };
        return c;
      })),
      ...(await opening('connect-mongo', () =>
        connectMongo(arena, 'connect-mongo', 'cm', ctx.ttl),
      )),
      ...(await opening('raw driver', () => rawDriver(arena, 'raw'))),
      ...(wanted('connect-mongodb-session')
        ? await ifItRuns(ctx, connectMongoDBSessionStore(arena, 'cms'))
        : []),
    ];
    const withTouchAfter = [
      ...(await opening('ours touchAfter', () =>
        ours(arena, 'ours touchAfter', 'ours_ta', 3_600_000),
      )),
      ...(await opening('connect-mongo touchAfter', () =>
        connectMongo(arena, 'connect-mongo touchAfter', 'cm_ta', ctx.ttl, 3_600),
      )),
    ];
    const around = <T>(c: Contestant, batch: () => Promise<T>) =>
      c.around === undefined ? batch() : c.around(batch);
    // Unrecorded warm-up, so that no contestant pays for JIT, pools and a cold server.
    for (const c of [...plain, ...withTouchAfter]) {
      await around(c, () =>
        timeOps(200, 8, async (i) => {
          await c.set(`warm-${i}`, sess(i));
          await c.get(`warm-${i}`);
          await c.touch?.(`warm-${i}`, sess(i, DAY + 1_000));
          await c.destroy(`warm-${i}`);
        }),
      );
    }
    for (let round = 0; round < settings.rounds; round++) {
      for (const level of LEVELS) {
        progress(`operations: round ${round + 1}/${settings.rounds}, concurrency ${level}`);
        const n = settings.n[level];
        // Rotate who goes first, so no contestant always meets a warmer or colder server.
        const order = plain.map((_, i) => plain[(i + round) % plain.length]);
        for (const [op, fn] of STEPS) {
          for (const c of order) {
            const key = { op, level, store: c.name };
            const timed = await fn(c, (i) => `${c.name}-${round}-${level}-${i}`, round, n);
            if (timed === undefined) {
              tally.lacking(key);
              continue;
            }
            if (process.env.BENCH_TRACE) progress(`${op} ${level} ${c.name}`);
            tally.add(key, await around(c, () => timeOps(n, level, timed)));
          }
        }
        const rotated = withTouchAfter.map(
          (_, i) => withTouchAfter[(i + round) % withTouchAfter.length],
        );
        for (const c of rotated) await touchAfter(ctx, c, `${round}-${level}`, level, n);
      }
    }
    for (const [row, goal] of [
      [SECRET_ROW, ' (goal: ≥ 0.95×)'],
      [DEVICES_ROW, ''],
      ...DEVICE_PARTS.map(([name]) => [name, '']),
      [TRACED_ROW, ''],
    ]) {
      for (const [op] of STEPS) {
        for (const level of LEVELS) {
          tally.compare(
            `${op} at concurrency ${level}, ${row} ÷ ours${level === 32 ? goal : ''}`,
            { op, level, store: row },
            { op, level, store: 'ours' },
          );
        }
      }
    }
    // Ours against each baseline; and each later baseline against the first, so that a change
    // between two older commits is measured too (`--baseline=before,after`).
    const [first, ...later] = settings.baselines.map(baselineRow);
    const pairs = [
      ...(first === undefined ? [] : [['ours', first], ...later.map((b) => ['ours', b])]),
      ...later.map((b) => [b, first]),
      ...settings.baselines
        .map(secretBaselineRow)
        .filter((row) => settings.stores?.includes(row))
        .map((row) => [SECRET_ROW, row]),
    ] as [string, string][];
    for (const [a, b] of pairs) {
      for (const [op] of STEPS) {
        for (const level of LEVELS) {
          tally.compare(
            `${op} at concurrency ${level}, ${a} ÷ ${b}`,
            { op, level, store: a },
            { op, level, store: b },
          );
        }
      }
    }
    if (tracer.count > 0) ctx.section(tracedSection(tracer));
  },
};

/**
 * `touch` within touchAfter: sessions loaded as express-session would (get at request start),
 * then touched at the end of a request that came soon after the last write.
 */
async function touchAfter(ctx: Context, c: Contestant, tag: string, level: number, n: number) {
  // One string per session, as express-session passes the same req.sessionID to get and to
  // touch: building a new one per call would time string building instead.
  const ids = Array.from({ length: n }, (_, i) => `${c.name}-ta-${tag}-${i}`);
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
  ctx.tally.add({ op: 'touch (touchAfter)', level, store: c.name }, sample);
  // Leave no rows behind: on FerretDB every later lookup would scan them.
  for (const sid of ids) await c.destroy(sid);
}

/** What the traced contestant's subscriber recorded: proof that it listened, and to what. */
function tracedSection(tracer: Tracer): string[] {
  const lines = [
    `## ${TRACED_ROW}: what its subscriber recorded`,
    '',
    'Subscribed (start, end, asyncStart, asyncEnd, error) only during its own batches and warm-up; a duration per operation into a histogram, as a metrics exporter would.',
    '',
    '| operation outcome | count | mean ms | errors |',
    '| --- | ---: | ---: | ---: |',
  ];
  for (const [key, r] of tracer.recorded)
    lines.push(`| ${key} | ${r.count} | ${(r.totalMs / r.count).toFixed(2)} | ${r.errors} |`);
  return lines;
}
