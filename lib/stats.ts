import type { mongo } from 'mongoose';
import {
  BY_EXPIRY,
  bornAfter,
  expiredFilter,
  liveFilter,
  type SessionDocument,
} from './document.js';

/** What {@link MongooseStore.stats} gives: how the store is doing, at a glance. */
export interface StoreStats {
  /** Whether the server can be reached. */
  connected: boolean;
  /** What deletes expired sessions: the server's TTL index, this store's sweeper, or nothing. */
  expiry: 'ttl-index' | 'sweeper' | 'none';
  /** This store's part in the sweep lease: holding it, following, or not sweeping at all. */
  lease: 'holder' | 'follower' | 'off';
  /** How many live sessions there are. */
  live: number;
  /** How many sessions are stored but expired, not yet deleted: the TTL lag, in documents. */
  expired: number;
  /** How long ago the oldest of those expired, in milliseconds; `null` when there are none. */
  oldestExpiredMs: number | null;
  /** This store's last sweep: when it ended and how many it deleted; `null` before any. */
  lastSweep: { at: Date; deleted: number } | null;
}

/**
 * The counts of {@link StoreStats}: three queries on `expiresAt`, each answered by its index on
 * mongod (two counts and one lookup of the oldest). On FerretDB 1.x each scans the table.
 */
export async function countsOf(
  coll: mongo.Collection<SessionDocument>,
  legacy: boolean,
  maxLifetime?: number,
): Promise<Pick<StoreStats, 'live' | 'expired' | 'oldestExpiredMs'>> {
  const now = new Date();
  const expired = expiredFilter(now);
  const [live, count, oldest] = await Promise.all([
    coll.countDocuments(liveFilter(now, legacy, bornAfter(now, maxLifetime))),
    coll.countDocuments(expired),
    coll.find(expired, { projection: BY_EXPIRY }).sort(BY_EXPIRY).limit(1).toArray(),
  ]);
  const first = oldest[0]?.expiresAt;
  return {
    live,
    expired: count,
    oldestExpiredMs: first instanceof Date ? Math.max(0, now.getTime() - first.getTime()) : null,
  };
}
