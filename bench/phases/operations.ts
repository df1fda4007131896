// Each store operation timed alone: every round runs every op for every contestant before
// the next op, at concurrency 1 and 32.
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
import { type Context, ifItRuns, type Phase } from './phase';

const LEVELS = [1, 32] as const;
/** Our store with `secret` set, beside the same without it. */
const SECRET_ROW = 'ours secret';
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
    // What express-session's resetMaxAge does at the start of a request, made the same for all.
    // (The raw driver's cookie is parsed JSON: its expiry a string.)
    s.cookie.expires = new Date(new Date(s.cookie.expires as Date | string).getTime() + 60_000);
    loaded[i] = s;
  });
  return (i) => touch(id(i), loaded[i]);
}

export const operations: Phase = {
  async run(ctx) {
    const { arena, settings, tally } = ctx;
    const plain = [
      await ctx.open(ours(arena, 'ours', 'ours')),
      await ctx.open(ours(arena, SECRET_ROW, 'ours_secret', 0, undefined, BENCH_SECRET)),
      await ctx.open(connectMongo(arena, 'connect-mongo', 'cm', ctx.ttl)),
      await ctx.open(rawDriver(arena, 'raw')),
      ...(await ifItRuns(ctx, connectMongoDBSessionStore(arena, 'cms'))),
    ];
    const withTouchAfter = [
      await ctx.open(ours(arena, 'ours touchAfter', 'ours_ta', 3_600_000)),
      await ctx.open(connectMongo(arena, 'connect-mongo touchAfter', 'cm_ta', ctx.ttl, 3_600)),
    ];
    // Unrecorded warm-up, so that no contestant pays for JIT, pools and a cold server.
    for (const c of [...plain, ...withTouchAfter]) {
      await timeOps(200, 8, async (i) => {
        await c.set(`warm-${i}`, sess(i));
        await c.get(`warm-${i}`);
        await c.touch?.(`warm-${i}`, sess(i, DAY + 1_000));
        await c.destroy(`warm-${i}`);
      });
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
            tally.add(key, await timeOps(n, level, timed));
          }
        }
        const rotated = withTouchAfter.map(
          (_, i) => withTouchAfter[(i + round) % withTouchAfter.length],
        );
        for (const c of rotated) await touchAfter(ctx, c, `${round}-${level}`, level, n);
      }
    }
    for (const [op] of STEPS) {
      for (const level of LEVELS) {
        tally.compare(
          `${op} at concurrency ${level}, ${SECRET_ROW} ÷ ours${level === 32 ? ' (goal: ≥ 0.95×)' : ''}`,
          { op, level, store: SECRET_ROW },
          { op, level, store: 'ours' },
        );
      }
    }
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
