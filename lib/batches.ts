import type { mongo } from 'mongoose';
import { retrying } from './retry.js';

/**
 * How many documents one delete may remove at most. Bounded because FerretDB 1.x deletes the
 * matched rows in one SQL statement with a variable for each (SQLite allows 32,766), and
 * because one huge delete holds the server's write lock while requests wait.
 */
export const DELETE_BATCH = 10_000;

type Filter = mongo.Filter<mongo.Document>;

/** How {@link deleteInBatches} goes about it. */
export interface BatchOptions {
  /** Asked between rounds, and before each retry: once it says yes, no other round starts. Default: never. */
  stopped?: () => boolean;
  /** The most documents one delete may remove. Default {@link DELETE_BATCH}. */
  batch?: number;
  /**
   * What to call the job in a give-up: given, each round is tried again after a transient
   * error (see `retrying()` in lib/retry.ts), and after the last try the job ends with
   * `ERR_SERVER_BUSY`. Default: no retries, an error ends the job at once.
   */
  retry?: string;
}

/**
 * Deletes every document that matches `filter`, at most `batch` per delete command, and
 * resolves to how many it deleted.
 *
 * Each round finds the value of `field` at position `batch` in ascending order and deletes
 * what lies strictly below it: a range, not a list of ids, because FerretDB 1.x compares a
 * list of ids against every row (a 1,000-id `$in` took 5 s at 40,000 rows, a range 3 s).
 * Rows that tie at that value (only possible on an expiry) go by a range of ids instead. `filter` is
 * kept in every delete, so a session refreshed meanwhile is never taken. `stopped` is asked
 * between rounds; other requests are served between them. Each round (find the edge, delete
 * below it) is safe to repeat as a whole, since every delete is by filter: with `retry`, a
 * round that meets a transient error is run again.
 */
export async function deleteInBatches(
  coll: mongo.Collection<mongo.Document>,
  filter: Filter,
  field: '_id' | 'expiresAt' | 'expires',
  options: BatchOptions = {},
): Promise<number> {
  const { stopped = () => false, batch = DELETE_BATCH, retry } = options;
  const within = (range: Record<string, unknown>): Filter => {
    const own = filter[field] as Record<string, unknown> | undefined;
    return { ...filter, [field]: { ...own, ...range } };
  };
  /** One round: how many it deleted, and whether it was the last. */
  const round = async (): Promise<{ n: number; last: boolean }> => {
    const [edge] = await coll
      .find(filter, { projection: { [field]: 1 } })
      .sort({ [field]: 1 })
      .skip(batch)
      .limit(1)
      .toArray();
    if (edge === undefined) {
      // No more than `batch` left.
      return { n: (await coll.deleteMany(filter)).deletedCount, last: true };
    }
    let n = (await coll.deleteMany(within({ $lt: edge[field] }))).deletedCount;
    if (n === 0) {
      // More than `batch` rows share the lowest value (only on an expiry): take a batch of
      // them by a range of ids, never by a list of them.
      const tied = within({ $eq: edge[field] });
      const [idEdge] = await coll
        .find(tied, { projection: { _id: 1 } })
        .sort({ _id: 1 })
        .skip(batch)
        .limit(1)
        .toArray();
      const next = idEdge === undefined ? tied : { ...tied, _id: { $lt: idEdge._id } };
      n = (await coll.deleteMany(next)).deletedCount;
    }
    return { n, last: false };
  };
  let deleted = 0;
  while (!stopped()) {
    const { n, last } = await (retry === undefined ? round() : retrying(retry, round, stopped));
    deleted += n;
    if (last) break;
    await new Promise((r) => setImmediate(r));
  }
  return deleted;
}
