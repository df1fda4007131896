import mongoose, { type Connection } from 'mongoose';
import { MongooseStoreError } from './errors.js';
import { log } from './log.js';
import type { ResolvedOptions } from './options.js';

/** What the connection tells the store. */
export interface ConnectionHooks {
  /** The server can be reached (first open, or back after an outage). */
  up(conn: Connection): void;
  /** The server cannot be reached (a failed open, or lost after being up). */
  down(): void;
  /** Something went wrong that nobody awaits. */
  error(err: Error): void;
}

const FIRST_RETRY = 1_000;
const MAX_RETRY = 30_000;

/**
 * The store's connection as a lifecycle, not a promise frozen at birth.
 *
 * A failed open is retried in the background with backoff, and at once by the next operation
 * that needs the server. Once open, the driver itself rides out outages; we only follow its
 * state. We close only a connection we opened.
 */
export class SessionConnection {
  private conn: Connection | undefined;
  private opening: Promise<Connection> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelay = FIRST_RETRY;
  /** 'unknown' until the first open settles, so the first failure is announced too. */
  private state: 'unknown' | 'up' | 'down' = 'unknown';
  private closed = false;
  /** Detaches our listeners from a watched connection; a user's connection outlives us. */
  private unwatch: (() => void) | undefined;

  constructor(
    private readonly options: ResolvedOptions,
    private readonly hooks: ConnectionHooks,
  ) {
    if (options.connection !== undefined) this.adopt(options.connection);
  }

  /** Starts an open without waiting for it. Failures reach the hooks, never unhandled. */
  private start(): void {
    this.open().catch(() => {});
  }

  /** The open connection; opens (or retries) it first when needed. */
  open(): Promise<Connection> {
    if (this.closed)
      return Promise.reject(new MongooseStoreError('ERR_STORE_CLOSED', 'the store is closed'));
    if (this.conn?.db !== undefined) return Promise.resolve(this.conn);
    this.opening ??= this.attempt().finally(() => {
      this.opening = undefined;
    });
    return this.opening;
  }

  private async attempt(): Promise<Connection> {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    if (this.options.connection !== undefined) {
      // Not ours to open: wait for its owner to open it.
      await this.options.connection.asPromise();
      return this.options.connection;
    }
    const conn = mongoose.createConnection();
    this.watch(conn);
    try {
      await conn.openUri(this.options.uri as string, {
        ...this.options.connectionOptions,
        autoIndex: false,
        autoCreate: false,
      });
    } catch (err) {
      conn.removeAllListeners();
      conn.on('error', () => {});
      await conn.destroy(true).catch(() => {});
      this.markDown();
      this.scheduleRetry();
      throw err;
    }
    if (this.closed) {
      await conn.close().catch(() => {});
      throw new MongooseStoreError('ERR_STORE_CLOSED', 'the store is closed');
    }
    this.conn = conn;
    this.retryDelay = FIRST_RETRY;
    this.markUp();
    return conn;
  }

  private adopt(conn: Connection): void {
    this.watch(conn);
    if (conn.db !== undefined) {
      this.conn = conn;
      // Tell listeners on the next tick, once they are attached.
      process.nextTick(() => this.markUp());
    }
  }

  private watch(conn: Connection): void {
    // With no 'error' listener mongoose stays quiet; with ours, its errors reach the hooks.
    const onError = (err: Error) => this.hooks.error(err);
    const onConnected = () => {
      this.conn = conn;
      this.markUp();
    };
    const onDisconnected = () => this.markDown();
    conn.on('error', onError);
    conn.on('connected', onConnected);
    conn.on('disconnected', onDisconnected);
    this.unwatch = () => {
      conn.off('error', onError);
      conn.off('connected', onConnected);
      conn.off('disconnected', onDisconnected);
    };
  }

  private markUp(): void {
    if (this.closed || this.state === 'up' || this.conn === undefined) return;
    this.state = 'up';
    this.hooks.up(this.conn);
  }

  private markDown(): void {
    if (this.closed || this.state === 'down') return;
    this.state = 'down';
    this.hooks.down();
  }

  private scheduleRetry(): void {
    if (this.closed || this.retryTimer !== undefined) return;
    const delay = this.retryDelay;
    this.retryDelay = Math.min(this.retryDelay * 2, MAX_RETRY);
    log('connect failed; retrying in %d ms', delay);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.start();
    }, delay);
    this.retryTimer.unref();
  }

  /** Stops retrying and closes the connection if the store opened it. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    await this.opening?.catch(() => {});
    this.unwatch?.();
    if (this.options.connection === undefined) await this.conn?.close().catch(() => {});
  }
}
