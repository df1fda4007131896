// Issue 11: a user's sessions (`listByUser`, `destroyByUser`) on a collection of many
// sessions of many users, beside a `get` on the same collection. On mongod the user index
// makes them one index lookup; FerretDB 1.x decodes every document for any filter but `{ _id }`.
import { type Contestant, ours, rawDriver } from '../contestants';
import { progress } from '../fixtures';
import { timeOps } from '../measure';
import type { Phase } from './phase';

export const users: Phase = {
  async run(ctx) {
    const { sessions, users: userCount, gets, calls } = ctx.settings.users;
    const per = Math.floor(sessions / userCount);
    const of = `${sessions} sessions, ${userCount} users`;
    const contestants: Contestant[] = [
      await ctx.open(ours(ctx.arena, 'ours', 'oursRowusers')),
      await ctx.open(rawDriver(ctx.arena, 'raw_users')),
    ];
    for (const c of contestants) {
      progress(`users: seeding ${of} for ${c.name}`);
      await c.seed(sessions, userCount);
      // The seeded documents must read back as the store reads its own: a format drift fails here.
      const listed = (await c.listByUser?.('user-0'))?.length;
      if (listed !== undefined && listed !== per)
        throw new Error(`${c.name} listed ${listed} sessions of user-0, expected ${per}`);
    }
    // Each round lists and destroys users of its own, so every destroy finds live sessions;
    // user-0 is never touched, and every get reads one of its sessions.
    if (1 + ctx.settings.rounds * calls * 2 > userCount)
      throw new TypeError(
        `bench: ${userCount} users are too few for ${ctx.settings.rounds} rounds of ${calls} calls`,
      );
    let next = 1;
    for (let round = 0; round < ctx.settings.rounds; round++) {
      progress(`users: round ${round + 1}/${ctx.settings.rounds} over ${of}`);
      const listed = Array.from({ length: calls }, () => `user-${next++ % userCount}`);
      const destroyed = Array.from({ length: calls }, () => `user-${next++ % userCount}`);
      const order = contestants.map((_, i) => contestants[(i + round) % contestants.length]);
      for (const c of order) {
        // user-0 holds seed-0, seed-<users>, seed-<2 × users>…: spread over the collection.
        const get = async (i: number) => {
          const sid = `seed-${userCount * ((round * 7 + i * 3) % per)}`;
          if ((await c.get(sid)) == null) throw new Error(`${c.name} missed ${sid}`);
        };
        ctx.tally.add(
          { op: `get (hit; ${of})`, level: 1, store: c.name },
          await timeOps(gets, 1, get),
        );
      }
      for (const c of order) {
        const key = { op: `listByUser (${of})`, level: 1, store: c.name };
        const list = c.listByUser;
        if (list === undefined) ctx.tally.lacking(key);
        else ctx.tally.add(key, await timeOps(calls, 1, (i) => list(listed[i])));
      }
      for (const c of order) {
        const key = { op: `destroyByUser (${of})`, level: 1, store: c.name };
        const destroy = c.destroyByUser;
        if (destroy === undefined) {
          ctx.tally.lacking(key);
          continue;
        }
        const sample = await timeOps(calls, 1, async (i) => {
          const n = await destroy(destroyed[i]);
          if (n !== per)
            throw new Error(
              `${c.name} destroyed ${n} sessions of ${destroyed[i]}, expected ${per}`,
            );
        });
        ctx.tally.add(key, sample);
      }
    }
    const oursRow = (op: string) => ({ op, level: 1, store: 'ours' });
    for (const op of ['listByUser', 'destroyByUser'])
      ctx.tally.compare(
        `ours, \`get\` ÷ \`${op}\` on one collection (how many gets one call costs)`,
        oursRow(`get (hit; ${of})`),
        oursRow(`${op} (${of})`),
      );
  },
};
