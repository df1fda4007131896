import type { mongo } from 'mongoose';

/**
 * How many documents one delete may remove at most. Bounded because FerretDB 1.x deletes the
 * matched rows in one SQL statement with a variable for each (SQLite allows 32,766), and
 * because one huge delete holds the server's write lock while requests wait.
 */
export const DELETE_BATCH = 10_000;

type Filter = mongo.Filter<mongo.Document>;

/**
 * Deletes every document that matches `filter`, at most `batch` per delete command, and
 * resolves to how many it deleted.
 *
 * Each round finds the value of `field` at position `batch` in ascending order and deletes
 * what lies strictly below it: a range, not a list of ids, because FerretDB 1.x compares a
 * list of ids against every row (a 1,000-id `$in` took 5 s at 40,000 rows, a range 3 s).
 * Rows that tie at that value (only possible on an expiry) go by a range of ids instead. `filter` is
 * kept in every delete, so a session refreshed meanwhile is never taken. `stopped` is asked
 * between rounds; other requests are served between them.
 */
export async function deleteInBatches(
  coll: mongo.Collection<mongo.Document>,
  filter: Filter,
  field: '_id' | 'expiresAt' | 'expires',
  stopped: () => boolean = () => false,
  batch = DELETE_BATCH,
): Promise<number> {
  const within = (range: Record<string, unknown>): Filter => {
    const own = filter[field] as Record<string, unknown> | undefined;
    return { ...filter, [field]: { ...own, ...range } };
  };
  let deleted = 0;
  while (!stopped()) {
    const [edge] = await coll
      .find(filter, { projection: { [field]: 1 } })
      .sort({ [field]: 1 })
      .skip(batch)
      .limit(1)
      .toArray();
    if (edge === undefined) {
      // No more than `batch` left.
      return deleted + (await coll.deleteMany(filter)).deletedCount;
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
    deleted += n;
    await new Promise((r) => setImmediate(r));
  }
  return deleted;
}
