import type { mongo } from 'mongoose';

/**
 * A second, real client that deletes expired sessions the moment they expire, as a server
 * with a fast TTL monitor does (FerretDB 2.x's TTL task can run every second). A spec that
 * runs with one shows that it depends on nobody keeping an expired document.
 */
export interface Deleter {
  /** Documents it has deleted so far. */
  readonly deleted: number;
  /** Rounds it has finished so far. */
  readonly rounds: number;
  /** Stops it and waits for its last round; rejects with the error that ended it, if any. */
  stop(): Promise<void>;
}

/** How often a deleter deletes, and for how long at most. */
export interface DeleterOptions {
  /** Pause between two rounds, in milliseconds. Default 5. */
  every?: number;
  /** It stops by itself after this many milliseconds, whatever happens. Default 30000. */
  atMost?: number;
}

/** Starts deleting `{ expiresAt: { $lte: now } }` from `coll` in a loop until stopped. */
export function startDeleter<T extends { expiresAt: Date }>(
  coll: mongo.Collection<T>,
  { every = 5, atMost = 30_000 }: DeleterOptions = {},
): Deleter {
  let deleted = 0;
  let rounds = 0;
  let stopped = false;
  const end = Date.now() + atMost;
  const loop = (async () => {
    while (!stopped && Date.now() < end) {
      deleted += (await coll.deleteMany({ expiresAt: { $lte: new Date() } } as mongo.Filter<T>))
        .deletedCount;
      rounds += 1;
      await new Promise((r) => setTimeout(r, every));
    }
  })();
  // Seen by stop(); until then it must not count as an unhandled rejection.
  loop.catch(() => {});
  return {
    get deleted() {
      return deleted;
    },
    get rounds() {
      return rounds;
    },
    stop() {
      stopped = true;
      return loop;
    },
  };
}

/**
 * Gives a spec file a function that runs a {@link Deleter} on `coll` for the current
 * test; every deleter is stopped after each test, and an error it met fails that test.
 */
export function useDeleters(): <T extends { expiresAt: Date }>(
  coll: mongo.Collection<T>,
  options?: DeleterOptions,
) => Deleter {
  const running: Deleter[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((d) => d.stop()));
  });
  return (coll, options) => {
    const deleter = startDeleter(coll, options);
    running.push(deleter);
    return deleter;
  };
}
