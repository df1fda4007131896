import type { SessionData } from 'express-session';
import type { mongo } from 'mongoose';
import { BY_ID, byId, expiredSets, type SessionDocument } from './document.js';
import { retrying } from './retry.js';

/** Expired sessions read per round of announcements: the memory one round holds. */
export const ANNOUNCE_BATCH = 500;
/** Deletes in flight at once; also the most announcements a holder killed mid-round can lose. */
export const ANNOUNCE_PARALLEL = 8;
/**
 * While `expiredEvents` is on, the TTL index keeps an expired document this long, in
 * seconds, so that the sweeper announces it first; the server deletes only what no store
 * announced by then (every instance down).
 */
export const EXPIRED_GRACE_S = 3_600;

/** What one announcing sweep needs. */
export interface Announcing {
  /** Whether to include the peers' expired documents (`legacy`). */
  legacy: boolean;
  /** Asked between steps: the store stopped, or the lease passed on. */
  stopped(): boolean;
  /** The session a document holds, or `null` when it cannot be read. */
  decode(doc: SessionDocument): SessionData | null;
  /** Tells the app: once per session, after the session is deleted. */
  announce(sid: string, session: SessionData | null): void;
}

/**
 * Deletes the sessions expired at `now` (the server's clock) and announces each one it
 * deleted. Each is deleted on its own, guarded by its expiry, and announced only when this
 * delete is the one that removed it: a session that another sweeper, a destroy or the TTL
 * monitor removed first is never announced by this one, and one a late request revived is
 * left alone. So a session is announced at most once across every store; a holder killed
 * between a delete and its announcement loses that announcement (at most
 * {@link ANNOUNCE_PARALLEL} of them). Resolves to how many it deleted.
 */
export async function announceExpired(
  coll: mongo.Collection<SessionDocument>,
  now: Date,
  how: Announcing,
): Promise<number> {
  let deleted = 0;
  for (const [filter] of expiredSets(now, how.legacy)) {
    const expired = filter as mongo.Filter<SessionDocument>;
    while (!how.stopped()) {
      const docs = await retrying(
        'the sweep',
        () => coll.find(expired).sort(BY_ID).limit(ANNOUNCE_BATCH).toArray(),
        how.stopped,
      );
      let next = 0;
      const worker = async () => {
        while (next < docs.length && !how.stopped()) {
          const doc = docs[next++] as SessionDocument;
          const gone = await retrying(
            'the sweep',
            () => coll.deleteOne({ ...expired, ...byId(doc._id) }),
            how.stopped,
          );
          if (gone.deletedCount !== 1) continue;
          deleted++;
          how.announce(doc._id, how.decode(doc));
        }
      };
      await Promise.all(Array.from({ length: ANNOUNCE_PARALLEL }, worker));
      if (docs.length < ANNOUNCE_BATCH) break;
    }
  }
  return deleted;
}
