import type { SessionData } from 'express-session';
import type { mongo } from 'mongoose';
import { announceExpired, EXPIRED_GRACE_S } from './announcer.js';
import { deleteInBatches } from './batches.js';
import { expiredSets } from './document.js';
import { ensureTtlIndex } from './indexes.js';
import { Lease, type LeaseTerm, leaseName } from './lease.js';
import { log } from './log.js';
import { FALLBACK_LIFECHECK, type ResolvedOptions } from './options.js';
import { retrying } from './retry.js';
import { type SessionDocument, ttlIndexSpec } from './schema.js';
import { serverTime } from './server-time.js';
import { Sweeper } from './sweeper.js';
import { traced } from './tracing.js';

/** What cleanup tells the store. */
export interface CleanupHooks {
  swept(deleted: number): void;
  failed(err: Error): void;
  refused(reason: Error, lifecheck: number): void;
  /** With `expiredEvents`: a session the sweeper deleted as expired, decoded (or `null`). */
  expired(sid: string, session: SessionData | null): void;
  /** The session a stored document holds, or `null` when it cannot be read. */
  decode(doc: SessionDocument): SessionData | null;
}

/** The sweeper's interval while `expiredEvents` is on and `lifecheck` is not given, in ms. */
export const ANNOUNCE_LIFECHECK = 5_000;

/**
 * Decides who deletes expired sessions: the server's TTL index, the sweeper, or both.
 *
 * The TTL index is checked once per store; a refusal is final (the server will not change
 * its mind), while other errors are retried on the next connect. Without a confirmed TTL
 * index the sweeper runs, unless `lifecheck` is -1. Of all the stores that sweep one
 * collection, only the holder of its {@link Lease} sweeps; a server that refuses the lease
 * leaves each store to sweep alone, as before there was one.
 */
export class Cleanup {
  private ttl: 'unknown' | 'ready' | 'refused' = 'unknown';
  private stopped = false;
  private noServerTime = false;
  private last: { at: Date; deleted: number } | null = null;
  private readonly sweeper: Sweeper;
  private readonly lease: Lease;

  constructor(
    private readonly options: ResolvedOptions,
    collection: () => Promise<mongo.Collection<SessionDocument>>,
    private readonly hooks: CleanupHooks,
  ) {
    this.lease = new Lease(
      async () => {
        const coll = await collection();
        // From the primary, whatever the app reads from: a lagging secondary would hide the
        // newest term, and a store would never see its own.
        return coll.db.collection<LeaseTerm>(leaseName(coll.collectionName), {
          readPreference: 'primary',
        });
      },
      {
        // The holder stopped renewing, perhaps in the middle of a sweep: sweep now.
        taken: () => this.sweeper.soon(),
        refused: (err) => {
          const name = leaseName(options.collection);
          log('the server refused the sweep lease on %s (%s); sweeping alone', name, err.message);
          hooks.failed(
            new Error(
              `connect-mongoose-session: the server refused the sweep lease on ${name} (${err.message}); ` +
                'this store sweeps alone, and so does every other store on the collection',
              { cause: err },
            ),
          );
        },
        failed: (err) => hooks.failed(err),
        invalid: (err) => hooks.failed(err),
      },
    );
    this.sweeper = new Sweeper(
      async () => {
        // Another store holds the lease: it sweeps this time.
        if (!this.lease.held) return undefined;
        return traced('sweep', options.collection, async (trace) => {
          const deleted = await this.sweepOnce(collection);
          trace.outcome = deleted ?? 0;
          return deleted;
        });
      },
      {
        swept: (deleted) => {
          this.last = { at: new Date(), deleted };
          hooks.swept(deleted);
        },
        failed: hooks.failed,
      },
    );
  }

  /** One sweep by the lease holder; `undefined` when it ended early (stopped, lease lost). */
  private async sweepOnce(
    collection: () => Promise<mongo.Collection<SessionDocument>>,
  ): Promise<number | undefined> {
    const hooks = this.hooks;
    // In bounded batches: a backlog of any size is worked through, never refused whole.
    // A holder whose term runs out stops between two batches; the next holder goes on.
    // Each step is tried again after a transient error (a lock held, a primary stepping
    // down), until the sweeper stops or the lease is lost; then the next holder goes on.
    const coll = (await collection()) as unknown as mongo.Collection;
    const stop = () => this.stopped || !this.lease.held;
    try {
      const now = await retrying('the sweep', () => this.now(coll.db), stop);
      if (this.options.expiredEvents) {
        const deleted = await announceExpired(
          coll as unknown as mongo.Collection<SessionDocument>,
          now,
          {
            legacy: this.options.legacy,
            stopped: stop,
            decode: hooks.decode,
            announce: hooks.expired,
          },
        );
        log('swept and announced %d expired sessions', deleted);
        return deleted;
      }
      let deleted = 0;
      for (const [filter, field] of expiredSets(now, this.options.legacy))
        deleted += await deleteInBatches(coll, filter, field, {
          stopped: stop,
          retry: 'the sweep',
        });
      log('swept %d expired sessions', deleted);
      return deleted;
    } catch (err) {
      // Stopped, or the lease lost, while a step failed: not this store's sweep any more.
      if (!stop()) throw err;
      log(
        'a sweep ended early (%s): the store stopped or the lease passed on',
        (err as Error).name,
      );
      return undefined;
    }
  }

  /**
   * The time to sweep by: the server's, so that a host whose clock runs ahead never deletes a
   * live session. A server that does not tell its time leaves this host's clock, said once.
   */
  private async now(db: mongo.Db): Promise<Date> {
    const time = await serverTime(db);
    if (time !== undefined) return time;
    if (!this.noServerTime) {
      this.noServerTime = true;
      log(
        "the server's hello gives no localTime: sweeping by this host's clock, which must then agree with the other hosts'",
      );
    }
    return new Date();
  }

  /** The last sweep this store made: when it ended, and how many it deleted. */
  get lastSweep(): { at: Date; deleted: number } | null {
    return this.last;
  }

  /** What deletes expired sessions, as far as this store knows. */
  get expiry(): 'ttl-index' | 'sweeper' | 'none' {
    if (this.ttl === 'ready' && !this.options.expiredEvents) return 'ttl-index';
    return this.sweeper.interval === undefined ? 'none' : 'sweeper';
  }

  /** This store's part in the sweep lease. */
  get leaseRole(): 'holder' | 'follower' | 'off' {
    if (this.sweeper.interval === undefined) return 'off';
    return this.lease.held ? 'holder' : 'follower';
  }

  /** The sweeper's interval in milliseconds, or `undefined` while it is off. */
  get interval(): number | undefined {
    return this.sweeper.interval;
  }

  /** Checks the TTL index on `coll` (when `autoIndex`) and sets the sweeper from the answer. */
  async prepare(coll: mongo.Collection<SessionDocument>): Promise<void> {
    const { autoIndex, lifecheck } = this.options;
    let refusal: Error | undefined;
    try {
      if (autoIndex && this.ttl === 'unknown') {
        const [key, spec] = ttlIndexSpec();
        // With expiredEvents the server keeps expired documents a while: the sweeper
        // announces each before it deletes it, and the TTL monitor must not get there first.
        const expireAfterSeconds = this.options.expiredEvents ? EXPIRED_GRACE_S : 0;
        const outcome = await ensureTtlIndex(coll as unknown as mongo.Collection, [
          key,
          { ...spec, expireAfterSeconds },
        ]);
        this.ttl = outcome.ttl ? 'ready' : 'refused';
        if (!outcome.ttl) refusal = outcome.reason;
      }
    } finally {
      // Without a confirmed TTL index, expired sessions would pile up: sweep unless told not to.
      const every =
        lifecheck ??
        (this.options.expiredEvents
          ? ANNOUNCE_LIFECHECK
          : autoIndex && this.ttl !== 'ready'
            ? FALLBACK_LIFECHECK
            : -1);
      if (this.stopped || every === -1) {
        this.sweeper.stop();
        void this.lease.stop();
      } else if (this.sweeper.interval !== every) {
        // A term of one interval: a holder that stops renewing is replaced within about one.
        this.lease.start(every);
        this.sweeper.start(every);
      }
    }
    if (refusal !== undefined) {
      const every = lifecheck ?? FALLBACK_LIFECHECK;
      if (every === -1) {
        log(
          'WARNING: the server refused the TTL index (%s) and lifecheck is -1: nothing will delete expired sessions, and they will pile up',
          refusal.message,
        );
      } else {
        log('the server refused the TTL index (%s); sweeper every %d ms', refusal.message, every);
      }
      this.hooks.refused(refusal, every);
    }
  }

  /**
   * Stops the sweeper for good and gives the lease up. Resolves once the lease is given up
   * (or could not be: then it ends with its term); never rejects. Await it before closing the
   * connection, or the give-up is cut off.
   */
  stop(): Promise<void> {
    this.stopped = true;
    this.sweeper.stop();
    return this.lease.stop();
  }
}
