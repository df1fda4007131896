import mongoose, { type Connection, type mongo } from 'mongoose';
import { type ConnectionSource, isMongooseClient } from './connection-source.js';
import { closedError, typeError } from './errors.js';

/** mongoose's `readyState` while an open is under way. */
const CONNECTING = 2;

/** What a source may ask of the lifecycle that uses it. */
export interface SourceContext {
  /** Whether the store is closed. */
  closed(): boolean;
  /** Follows the topology of a client, so that an open that waits is explained. */
  watchTopology(client: mongo.MongoClient | undefined): void;
  /** Stops following the topology of the client, once the open that made it failed. */
  unwatchTopology(): void;
  /** Puts the lifecycle's listeners on a connection. */
  watch(conn: Connection): void;
}

/**
 * One way of getting a connection: the lifecycle calls this, and never asks which kind it has.
 * "Close only what you opened": each kind knows what it opened.
 */
export interface SourceStrategy {
  /** At construction: a connection that exists from the start (a user's), now watched. */
  adopt(ctx: SourceContext): Connection | undefined;
  /** Whether the first open should wait for the owner's events rather than fail. */
  waitsForOwner(): boolean;
  /** Opens a connection (or waits for its owner's open); rejects with what failed. */
  open(ctx: SourceContext): Promise<Connection>;
  /**
   * What a failed open means: `down` whether it says the server is down (not a misuse),
   * `retry` whether trying again later may help, `report` whether to say it (nobody may await
   * the start).
   */
  failed(err: unknown): { down: boolean; retry: boolean; report: boolean };
  /** Cuts an open under way short, and settles once it has cleaned up. */
  cancel(): Promise<void>;
  /**
   * Lets go of a connection `open` gave, once `lastWords` (run only where the connection is
   * ours) have had their say.
   */
  release(conn: Connection, lastWords: () => Promise<void>): Promise<void>;
}

/** Closes a connection of ours for good, which also takes it out of `mongoose.connections`. */
async function discard(conn: Connection): Promise<void> {
  conn.removeAllListeners();
  // mongoose emits 'error' only while someone listens; none may be thrown from here.
  conn.on('error', () => {});
  await conn.destroy(true).catch(() => {});
}

/** The store opens a connection of its own from the URI, and closes it. */
class UriSource implements SourceStrategy {
  /** Ours while its open is under way, so that cancel() can cut it short. */
  private pending: Connection | undefined;
  /** The open under way, settled either way: cancel() waits for it to clean up. */
  private attempting: Promise<void> = Promise.resolve();

  constructor(private readonly source: Extract<ConnectionSource, { kind: 'uri' }>) {}

  adopt(): undefined {
    return undefined;
  }

  waitsForOwner(): boolean {
    return false;
  }

  open(ctx: SourceContext): Promise<Connection> {
    const opening = this.openOurs(ctx);
    this.attempting = opening.then(
      () => {},
      () => {},
    );
    return opening;
  }

  private async openOurs(ctx: SourceContext): Promise<Connection> {
    const conn = mongoose.createConnection();
    this.pending = conn;
    ctx.watch(conn);
    try {
      const opening = conn.openUri(this.source.uri, {
        ...this.source.options,
        autoIndex: false,
        autoCreate: false,
      });
      // mongoose makes the client before its first await: the topology tells why it waits.
      ctx.watchTopology(conn.getClient());
      await opening;
    } catch (err) {
      ctx.unwatchTopology();
      await discard(conn);
      throw err;
    } finally {
      this.pending = undefined;
    }
    if (ctx.closed()) {
      await discard(conn);
      throw closedError();
    }
    return conn;
  }

  failed(): { down: boolean; retry: boolean; report: boolean } {
    return { down: true, retry: true, report: false };
  }

  async cancel(): Promise<void> {
    // Closing the client fails the server selection its open waits in, at once, rather than
    // when serverSelectionTimeoutMS runs out.
    await this.pending
      ?.getClient()
      ?.close(true)
      .catch(() => {});
    await this.attempting;
  }

  async release(conn: Connection, lastWords: () => Promise<void>): Promise<void> {
    await lastWords();
    await discard(conn);
  }
}

/**
 * A mongoose Connection of ours on the user's client. The Connection is ours (it is taken out
 * of `mongoose.connections` on close); the client is theirs, and never closed by us.
 */
class ClientSource implements SourceStrategy {
  /** Takes mongoose's listeners off the user's client, which outlives us. */
  private detachClient: (() => void) | undefined;

  constructor(private readonly source: Extract<ConnectionSource, { kind: 'client' }>) {}

  adopt(): undefined {
    return undefined;
  }

  waitsForOwner(): boolean {
    return false;
  }

  async open(ctx: SourceContext): Promise<Connection> {
    const client = await this.source.client;
    if (!isMongooseClient(client))
      throw typeError(
        "clientPromise: resolved to something other than a MongoClient of mongoose's own driver",
      );
    ctx.watchTopology(client);
    // connect() is idempotent: a client already connected answers at once.
    await client.connect();
    if (ctx.closed()) throw closedError();
    // mongoose puts listeners on the client; they are taken off again on release.
    const before = new Map(client.eventNames().map((e) => [e, client.listeners(e)]));
    const conn = mongoose.createConnection().setClient(client);
    this.detachClient = () => {
      for (const event of client.eventNames()) {
        const had = before.get(event) ?? [];
        for (const listener of client.listeners(event)) {
          if (!had.includes(listener))
            client.off(event as string, listener as (...args: unknown[]) => void);
        }
      }
    };
    ctx.watch(conn);
    return conn;
  }

  failed(): { down: boolean; retry: boolean; report: boolean } {
    // A promise that rejected stays rejected: retrying would give the same answer.
    return { down: true, retry: isMongooseClient(this.source.client), report: true };
  }

  cancel(): Promise<void> {
    // Not waited for: the user's client (or promise) may take as long as it likes. An open
    // that ends after close finds the store closed and adopts nothing.
    return Promise.resolve();
  }

  async release(conn: Connection, lastWords: () => Promise<void>): Promise<void> {
    await lastWords();
    conn.removeAllListeners();
    conn.on('error', () => {});
    const at = mongoose.connections.indexOf(conn);
    if (at !== -1) mongoose.connections.splice(at, 1);
    this.detachClient?.();
  }
}

/** A user's connection: watched, waited for, never opened nor closed by us. */
class GivenSource implements SourceStrategy {
  private readonly given: Connection;

  constructor(source: Extract<ConnectionSource, { kind: 'connection' }>) {
    this.given = source.connection;
  }

  adopt(ctx: SourceContext): Connection {
    ctx.watch(this.given);
    return this.given;
  }

  waitsForOwner(): boolean {
    return this.given.db === undefined && this.given.readyState !== CONNECTING;
  }

  async open(ctx: SourceContext): Promise<Connection> {
    const given = this.given;
    if (given.readyState !== CONNECTING)
      throw typeError(
        'connection: the mongoose Connection has not been opened; open it (mongoose.connect(uri) or conn.openUri(uri)) before using the store',
      );
    await given.asPromise();
    ctx.watchTopology(given.getClient());
    return given;
  }

  failed(err: unknown): { down: boolean; retry: boolean; report: boolean } {
    // Not opened at all is a misuse, not an outage.
    return { down: !(err instanceof TypeError), retry: false, report: false };
  }

  cancel(): Promise<void> {
    return Promise.resolve();
  }

  release(): Promise<void> {
    return Promise.resolve();
  }
}

/** The strategy for a source. */
export function strategyOf(source: ConnectionSource): SourceStrategy {
  switch (source.kind) {
    case 'uri':
      return new UriSource(source);
    case 'client':
      return new ClientSource(source);
    case 'connection':
      return new GivenSource(source);
  }
}
