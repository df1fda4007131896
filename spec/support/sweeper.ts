import type { mongo } from 'mongoose';
import { Cleanup } from '../../lib/cleanup';
import { resolveOptions } from '../../lib/options';
import type { SessionDocument } from '../../lib/schema';

/** What a sweeper under test reported: its sweeps, the sessions they deleted, its failures. */
export interface SweepsSeen {
  runs: number;
  deleted: number;
  errors: Error[];
}

/**
 * The sweeper alone (a {@link Cleanup}) of a store on collection `name` of the server at `uri`,
 * sweeping every `lifecheck` ms through `coll` (the real collection, or a proxy that makes
 * the server misbehave), without a TTL index; what it reports is counted in `seen`.
 */
export function countingSweeper(
  uri: string,
  name: string,
  coll: mongo.Collection<SessionDocument>,
  lifecheck: number,
): { cleanup: Cleanup; seen: SweepsSeen } {
  const seen: SweepsSeen = { runs: 0, deleted: 0, errors: [] };
  const cleanup = new Cleanup(
    resolveOptions(uri, { collection: name, autoIndex: false, lifecheck }),
    async () => coll,
    {
      swept: (n) => {
        seen.runs += 1;
        seen.deleted += n;
      },
      failed: (e) => seen.errors.push(e),
      refused: () => {},
      expired: () => {},
      decode: () => null,
    },
  );
  return { cleanup, seen };
}
