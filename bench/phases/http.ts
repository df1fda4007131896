// A full request cycle: express + express-session + the store, loaded from a second process.
import type { Store } from 'express-session';
import { benchApp, type Scenario } from '../app';
import { connectMongo, connectMongoDBSessionStore, ours } from '../contestants';
import { drive } from '../drive';
import { progress } from '../fixtures';
import { cpuSince } from '../measure';
import { ifItRuns, type Phase } from './phase';

const LEVELS = [1, 32] as const;

/** The rows, in order; a new row is one more line. */
export const SCENARIOS: Scenario[] = [
  { op: 'HTTP write', route: 'write', resave: false, rolling: false },
  { op: 'HTTP read', route: 'read', resave: false, rolling: false },
];

export const http: Phase = {
  async run(ctx) {
    const { arena, settings } = ctx;
    const stores = [
      await ctx.open(ours(arena, 'ours', 'ours_http')),
      await ctx.open(connectMongo(arena, 'connect-mongo', 'cm_http', ctx.ttl)),
      ...(await ifItRuns(ctx, connectMongoDBSessionStore(arena, 'cms_http'))),
    ];
    for (let round = 0; round < settings.rounds; round++) {
      for (const scenario of SCENARIOS) {
        for (const level of LEVELS) {
          for (const c of stores.map((_, i) => stores[(i + round) % stores.length])) {
            progress(
              `${scenario.op}, ${level} connections, ${c.name}, round ${round + 1}/${settings.rounds}`,
            );
            const app = benchApp(c.store as Store, scenario);
            const { load, watched } = await drive(app, level, settings.httpSeconds, () => {
              const node = process.cpuUsage();
              return () => cpuSince(node);
            });
            if (load.errors > 0)
              console.warn(`${c.name} ${scenario.op}: ${load.errors} failed requests`);
            ctx.tally.addRun(
              { op: scenario.op, level, store: c.name },
              { ...load, cpuUs: watched },
            );
          }
        }
      }
    }
  },
};
