// `length` over N sessions, half of them expired but not yet deleted.
import { connectMongo, ours, rawDriver } from '../contestants';
import { progress } from '../fixtures';
import { timeOps } from '../measure';
import type { Phase } from './phase';

/** Stores that count the expired sessions too: their count is not checked. */
const COUNTS_EXPIRED = new Set(['connect-mongo', 'connect-mongodb-session']);

export const length: Phase = {
  async run(ctx) {
    // Collections of their own: the seeded 100k documents must not slow the other phases.
    const contestants = [
      await ctx.open(ours(ctx.arena, 'ours', 'ours_len')),
      await ctx.open(connectMongo(ctx.arena, 'connect-mongo', 'cm_len', ctx.ttl)),
      await ctx.open(rawDriver(ctx.arena, 'raw_len')),
    ];
    for (const size of ctx.settings.sizes) {
      progress(`length over ${size} sessions`);
      for (const c of contestants) if (c.length) await c.seed(size);
      for (let rep = 0; rep < ctx.settings.lengthReps; rep++) {
        for (const c of contestants) {
          const key = { op: `length (${size})`, level: 1, store: c.name };
          const count = c.length;
          if (count === undefined) {
            ctx.tally.lacking(key);
            continue;
          }
          const sample = await timeOps(1, 1, async () => {
            const n = await count();
            if (!COUNTS_EXPIRED.has(c.name) && n !== size / 2)
              throw new Error(
                `${c.name} counted ${n} live sessions of ${size}, expected ${size / 2}`,
              );
          });
          ctx.tally.add(key, sample);
        }
      }
    }
  },
};
