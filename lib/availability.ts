import mongoose, { type Connection, type mongo } from 'mongoose';
import { MongooseStoreError } from './errors.js';
import { log } from './log.js';

/** Once the server is down, the first ping waits this long, then doubles. */
const FIRST_PROBE = 100;
const MAX_PROBE = 2_000;
/**
 * After an operation could not reach a server the driver still lists, a ping must answer within
 * this long, in milliseconds, or the server is taken as down.
 */
const CHECK_BOUND = 1_000;
/**
 * Server types a session's operations (reads and writes on the primary) can be sent to. In a
 * `Single` topology any known server is used as it is.
 */
const WRITABLE = new Set(['Standalone', 'Mongos', 'RSPrimary', 'LoadBalancer']);

/**
 * Errors that say the server could not be reached, by name: a user's connection may come from
 * another copy of mongoose and its driver. A pool cleared after a network error, and a server
 * selection that timed out, say it too.
 */
const UNREACHABLE = new Set([
  'MongooseServerSelectionError',
  'MongoNetworkError',
  'MongoNetworkTimeoutError',
  'MongoPoolClearedError',
  'PoolClearedOnNetworkError',
  'MongoServerSelectionError',
]);

function unreachable(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; e instanceof Error && depth < 4; depth++, e = e.cause) {
    if (UNREACHABLE.has(e.name) || e instanceof mongoose.mongo.MongoNetworkError) return true;
  }
  return false;
}

/** A server selection that timed out, as the driver and as mongoose (for a first open) say it. */
const SELECTION_FAILED = new Set(['MongoServerSelectionError', 'MongooseServerSelectionError']);

/**
 * An operation's error as the store gives it: a server selection that failed, or a connection
 * that failed or was lost, becomes `ERR_SERVER_UNAVAILABLE`, in one line without the driver's
 * words (they name the servers), which stay in `cause`. Anything else is passed on as it is.
 */
export function unavailableError(err: unknown): unknown {
  if (!(err instanceof Error) || err instanceof MongooseStoreError) return err;
  if (SELECTION_FAILED.has(err.name))
    return new MongooseStoreError(
      'ERR_SERVER_UNAVAILABLE',
      'no server could be selected: the database is down or out of reach',
      err,
    );
  if (unreachable(err))
    return new MongooseStoreError(
      'ERR_SERVER_UNAVAILABLE',
      'the connection to the server failed or was lost: the database is down or out of reach',
      err,
    );
  return err;
}

/** Whether a topology has a server a session's operations can be sent to. */
function selectable(topology: mongo.TopologyDescription): boolean {
  if (topology.type === 'LoadBalanced') return true;
  for (const server of topology.servers.values()) {
    if (topology.type === 'Single' ? server.type !== 'Unknown' : WRITABLE.has(server.type))
      return true;
  }
  return false;
}

/** Waits for `work` to settle, or `ms` to pass, whichever comes first; never rejects. */
export async function within(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((done) => {
    timer = setTimeout(done, ms, false);
    timer.unref();
  });
  const settled = work.then(
    () => true,
    () => false,
  );
  const answered = await Promise.race([settled, timeout]);
  clearTimeout(timer);
  return answered;
}

/** What the availability watch reads from the lifecycle, and tells it. */
export interface AvailabilityHooks {
  /** The open connection's database, while one is open. */
  db(): mongo.Db | undefined;
  /** Whether the lifecycle has said the server is up. */
  isUp(): boolean;
  /** The server answers again, or the driver lists one again. */
  up(): void;
  /** The server is taken as down. */
  down(): void;
}

/**
 * Whether a server is there to send a session's operations to, once a connection is open.
 *
 * We follow the driver's topology: the server is down while it lists no server to send a
 * session's operations to, or once an operation could not reach the server and a ping then
 * found no answer within {@link CHECK_BOUND} ms. One operation that timed out on a server that
 * answers says nothing. Then pings, on a growing delay, tell when it is back. Operations wait
 * at most `waitForServer` ms for a server; while one is there they wait for nothing.
 */
export class Availability {
  /** What the driver's topology says; taken as true until it says otherwise. */
  selectable = true;
  /** The driver's last word on why it could not reach a server, as the cause of our error. */
  lastError: Error | undefined;
  /** Operations waiting for the topology to list a server again; stop() fails them. */
  private serving:
    | { promise: Promise<void>; ok: () => void; fail: (err: Error) => void }
    | undefined;
  /** A ping under way to tell whether an operation's network error means an outage. */
  private checking: Promise<void> | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  private probing = false;
  private stopped = false;
  /** Takes our topology listener off the client it is on. */
  private unwatchTopology: (() => void) | undefined;
  private topologyClient: mongo.MongoClient | undefined;

  constructor(
    private readonly waitForServer: number,
    private readonly hooks: AvailabilityHooks,
  ) {}

  /** Resolves once the topology lists a server again; at once while it lists one. */
  listed(conn: Connection): Promise<Connection> {
    if (this.selectable) return Promise.resolve(conn);
    if (this.serving === undefined) {
      let ok = () => {};
      let fail: (err: Error) => void = () => {};
      const promise = new Promise<void>((resolve, reject) => {
        ok = resolve;
        fail = reject;
      });
      promise.catch(() => {});
      this.serving = { promise, ok, fail };
    }
    return this.bounded(this.serving.promise.then(() => conn));
  }

  /**
   * An operation got no answer within `waitForServer` (see `Deadlines`): a ping tells whether
   * the server is down, as after a network error ({@link suspect}).
   */
  silent(): Promise<void> {
    return this.check('no answer within waitForServer');
  }

  /** `waiting`, or `ERR_SERVER_UNAVAILABLE` once `waitForServer` ms have passed. */
  bounded(waiting: Promise<Connection>): Promise<Connection> {
    const ms = this.waitForServer;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, fail) => {
      timer = setTimeout(() => {
        // Nothing to send operations to for this long: express-session is better told, and
        // serves the next requests at once, without a session.
        this.hooks.down();
        fail(
          new MongooseStoreError(
            'ERR_SERVER_UNAVAILABLE',
            `no server could be selected within ${ms} ms (waitForServer): the database is down or out of reach`,
            this.lastError,
          ),
        );
      }, ms);
    });
    return Promise.race([
      waiting.catch((err: unknown) => {
        throw unavailableError(err);
      }),
      timeout,
    ]).finally(() => clearTimeout(timer));
  }

  /**
   * Follows the driver's topology (the SDAM events of its client): the server is down while no
   * server is listed to send operations to, and up again once one is. The driver takes a server
   * off the list on a network error, at once, but not on a timeout.
   */
  watchTopology(client: mongo.MongoClient | undefined): void {
    if (client === undefined || client === this.topologyClient || this.stopped) return;
    this.unwatch();
    const onChange = (event: mongo.TopologyDescriptionChangedEvent) => {
      const topology = event.newDescription;
      for (const server of topology.servers.values()) {
        if (server.error) this.lastError = server.error;
      }
      const now = selectable(topology);
      if (now === this.selectable) return;
      this.selectable = now;
      if (now) {
        this.serving?.ok();
        this.serving = undefined;
        this.hooks.up();
      } else if (this.hooks.db() !== undefined && this.hooks.isUp()) {
        log('the driver lists no server to send operations to');
        this.hooks.down();
        this.probe(FIRST_PROBE);
      }
    };
    client.on('topologyDescriptionChanged', onChange);
    this.topologyClient = client;
    this.unwatchTopology = () => client.off('topologyDescriptionChanged', onChange);
  }

  /** Takes our listener off the client whose topology we follow. */
  unwatch(): void {
    this.unwatchTopology?.();
    this.unwatchTopology = undefined;
    this.topologyClient = undefined;
  }

  /**
   * Takes an operation's failure into account, and settles (never rejects) once the verdict is
   * in, so that a `disconnect` it leads to is said before that operation's error is given. A
   * network error or a timeout on one operation is no outage by itself (one slow query, one
   * dropped connection): a ping tells, and only one that does not answer within
   * {@link CHECK_BOUND} ms marks the server down. Any number of failures share one ping.
   */
  suspect(err: unknown): Promise<void> {
    if (!unreachable(err)) return this.checking ?? Promise.resolve();
    return this.check((err as Error).name);
  }

  /** Pings the server (one ping at a time): no answer within {@link CHECK_BOUND} ms, it is down. */
  private check(what: string): Promise<void> {
    if (this.checking !== undefined) return this.checking;
    const db = this.hooks.db();
    if (this.stopped || !this.hooks.isUp() || db === undefined) return Promise.resolve();
    this.checking = within(db.command({ ping: 1 }), CHECK_BOUND).then((answered) => {
      this.checking = undefined;
      if (answered) {
        log('an operation could not reach the server (%s), but it answers a ping', what);
        return;
      }
      if (this.stopped || !this.hooks.isUp()) return;
      log('an operation could not reach the server (%s), nor could a ping', what);
      this.hooks.down();
      this.probe(FIRST_PROBE);
    });
    return this.checking;
  }

  /** Pings the server, one ping at a time and on a growing delay, until it is up. */
  private probe(delay: number): void {
    if (this.probing) return;
    this.probing = true;
    this.probeTimer = setTimeout(() => {
      this.probeTimer = undefined;
      const db = this.hooks.db();
      if (this.stopped || this.hooks.isUp() || db === undefined) {
        this.probing = false;
        return;
      }
      db.command({ ping: 1 }).then(
        () => {
          this.probing = false;
          this.hooks.up();
        },
        () => {
          this.probing = false;
          if (!this.stopped && !this.hooks.isUp()) this.probe(Math.min(delay * 2, MAX_PROBE));
        },
      );
    }, delay);
    this.probeTimer.unref();
  }

  /** Stops probing and watching, and fails what waits for a server with `err`. */
  stop(err: Error): void {
    this.stopped = true;
    clearTimeout(this.probeTimer);
    this.probeTimer = undefined;
    this.serving?.fail(err);
    this.serving = undefined;
    this.unwatch();
  }
}
