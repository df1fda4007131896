import type { mongo } from 'mongoose';

/**
 * The server's own time, as its `hello` answer gives it in `localTime`, or `undefined` when
 * the answer has none. mongod, FerretDB 1.24 and FerretDB 2 (DocumentDB) all give it.
 *
 * The sweeper deletes by this time, not by the app host's clock: a host whose clock runs
 * ahead would otherwise delete sessions that still have minutes to live. The time is read
 * before the deletes are sent, so it is a round trip old when they run: late, the safe side.
 * `$$NOW` in `$expr` would do the same in one command, but FerretDB 1.24 does not implement
 * `$lte` inside `$expr`.
 */
export async function serverTime(db: mongo.Db): Promise<Date | undefined> {
  const answer = await db.command({ hello: 1 });
  const time: unknown = answer.localTime;
  return time instanceof Date && Number.isFinite(time.getTime()) ? time : undefined;
}
