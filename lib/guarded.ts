import type { mongo } from 'mongoose';
import { byId, type Expected, guardFilter, holds, type SessionDocument } from './document.js';
import { profileOf, type ServerProfile } from './server-profile.js';

/**
 * Writes to one session only while it still holds what this process read: re-encryption
 * rewrites a session's data as it was, and must not undo a save made meanwhile.
 *
 * On mongod, Atlas and FerretDB 2 the condition is part of the update's filter, which the
 * server checks atomically, by the `_id` index. FerretDB 1.x (see `ferretdb1` in
 * {@link ServerProfile}) answers only a lone `{ _id }` filter in SQL: any other decodes the
 * whole collection, for each write (about 0.1–0.6 s at 10,000 sessions), and its updates read,
 * modify and write back without a lock anyway. There the session is read by `_id`, compared
 * here, and written by `_id`: the same guarantee as that server's own conditional update, at
 * the cost of a lookup. The server's profile is detected at connect; a write before it is
 * known waits for it.
 */
export class GuardedWrites {
  constructor(private readonly collection: () => Promise<mongo.Collection<SessionDocument>>) {}

  /** Applies `update` to session `sid` if it is as `expected`; resolves to whether it did. */
  async update(
    sid: string,
    expected: Expected,
    update: mongo.UpdateFilter<SessionDocument>,
  ): Promise<boolean> {
    const coll = await this.collection();
    if (!(await profileOf(coll.db)).ferretdb1)
      return (await coll.updateOne(guardFilter(sid, expected), update)).matchedCount > 0;
    const doc = await coll.findOne(byId(sid));
    if (doc === null || !holds(doc, expected)) return false;
    return (await coll.updateOne(byId(sid), update)).matchedCount > 0;
  }
}
