import { randomBytes } from 'node:crypto';
import mongoose, { type mongo } from 'mongoose';
import { codeOf, DUPLICATE_KEY, MongooseStoreError } from './errors.js';
import {
  BAD_NUMBER,
  flawOf,
  isTermNumber,
  LAST_TERM,
  type LeaseTerm,
  NOBODY,
  REPORTED_MAX,
} from './lease-terms.js';
import { log } from './log.js';

export { type LeaseTerm, leaseName } from './lease-terms.js';

/** What the lease tells the sweeper. */
export interface LeaseHooks {
  /** This instance took the lease over from a holder that stopped renewing it. */
  taken(): void;
  /** The server refused an operation the lease needs: from now on this instance sweeps alone. */
  refused(err: Error): void;
  /** A heartbeat failed (once per run of failures); the next one tries again. */
  failed(err: Error): void;
  /**
   * A document in the lease collection is not a well-formed term (`ERR_LEASE_INVALID`): it is
   * ignored, and said once per document. Or the terms ran out: then this instance sweeps alone.
   */
  invalid(err: MongooseStoreError): void;
}

// Codes meaning "this server will not let us keep a lease", for good: Unauthorized (13, a role
// that covers the sessions collection only), InvalidNamespace (73, the lease collection's name
// is too long: FerretDB 1.x allows 235 characters, mongod 255 with the database's), Atlas's
// "not allowed to do action" (8000), and the "no such command" family (59, 115, 238).
const REFUSED = new Set([13, 59, 73, 115, 238, 8000]);

/** A holder stops calling itself one this share of a term before others may take over. */
const MARGIN = 0.1;

/**
 * A lease that lets one of many stores on a collection sweep it, kept in the database.
 *
 * The lease is a chain of {@link LeaseTerm} documents. Taking or renewing it is one insert of
 * the next term: of all the instances that try, the unique `_id` lets exactly one win, on
 * every server (FerretDB 1.x has no atomic conditional update: two findOneAndUpdate calls with
 * the same filter can both match there). The holder renews every half term. Another instance
 * takes over once it has seen the same newest term for a whole term on its own monotonic clock;
 * the holder counts its own term from the moment it sent the insert and lets it go a tenth of
 * a term early. So no two clocks are ever compared, and no clock agreement is needed: only
 * clocks that run at about the same rate. An insert that wins an `_id` is kept only if a read
 * right after finds it newest (a term can be inserted late, after a long pause, once newer
 * ones have cleaned it up). The holder deletes all but the last two terms.
 *
 * `stop()` (the store's `close()`) inserts a term with no holder, which anyone takes at once.
 */
export class Lease {
  /** This instance's name in the lease collection: random, never a host name. */
  readonly me = randomBytes(8).toString('hex');
  private newest: { n: number; holder: string | null; term: number; seenAt: number } | undefined;
  private validUntil = 0;
  private alone = false;
  private failing = false;
  private stopped = true;
  private term = 0;
  private timer: NodeJS.Timeout | undefined;
  private beating: Promise<void> | undefined;
  /** The stray documents already reported, by `_id` and flaw. */
  private readonly reported = new Set<string>();
  /** The collection of the last heartbeat: `close()` gives the lease up through it. */
  private coll: mongo.Collection<LeaseTerm> | undefined;

  constructor(
    private readonly collection: () => Promise<mongo.Collection<LeaseTerm>>,
    private readonly hooks: LeaseHooks,
  ) {}

  /** Whether this instance may sweep now: it holds the lease, or the server refused it one. */
  get held(): boolean {
    return this.alone || performance.now() < this.validUntil;
  }

  /** Starts heartbeats for terms of `term` milliseconds: the first at once, then every half term. */
  start(term: number): void {
    if (!this.stopped && this.term === term) return;
    clearTimeout(this.timer);
    this.stopped = false;
    this.term = term;
    this.schedule(0);
  }

  /**
   * Stops the heartbeats and gives the lease up, if held; resolves once the server has it (or
   * refused it: then others take over when the term ends). Never rejects.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    // A heartbeat under way may still win a term: give up after it.
    await this.beating;
    await this.release();
  }

  private schedule(delay: number): void {
    if (this.stopped || this.alone) return;
    this.timer = setTimeout(() => void this.beat(), Math.max(0, Math.round(delay)));
    this.timer.unref();
  }

  private async beat(): Promise<void> {
    this.timer = undefined;
    this.beating = this.step().then(
      () => {
        this.failing = false;
      },
      (err: Error) => {
        if (err instanceof MongooseStoreError && err.code === 'ERR_LEASE_INVALID') {
          // The terms ran out: no insert can win one again, so sweep as without a lease.
          this.alone = true;
          this.hooks.invalid(err);
          return;
        }
        if (REFUSED.has(codeOf(err) as number)) {
          this.alone = true;
          this.hooks.refused(err);
          return;
        }
        // An outage fails every heartbeat: say so once, and again after one that worked.
        if (!this.failing) this.hooks.failed(err);
        else log('lease heartbeat failed again: %s', err.message);
        this.failing = true;
      },
    );
    await this.beating;
    this.beating = undefined;
    this.schedule(this.nextIn());
  }

  /** Milliseconds to the next heartbeat: half a term, or the moment a silent holder's term ends. */
  private nextIn(): number {
    const beat = (this.term / 2) * (0.9 + Math.random() * 0.2);
    const other = this.newest;
    if (this.held || other === undefined || other.holder === null) return beat;
    // One millisecond past its end, so that the takeover is not a heartbeat late.
    return Math.min(beat, other.seenAt + other.term - performance.now() + 1);
  }

  /** One heartbeat: renew the lease, take it, or watch who holds it. */
  private async step(): Promise<void> {
    const coll = await this.collection();
    this.coll = coll;
    // The holder knows the newest term (its own); anyone else reads it.
    const newest =
      this.held && this.newest?.holder === this.me ? this.newest : await this.observe(coll);
    const mine = newest?.holder === this.me;
    const free = newest === undefined || newest.holder === null;
    const silent = newest !== undefined && performance.now() - newest.seenAt >= newest.term;
    if (this.stopped || !(mine || free || silent)) return;
    const n = (newest?.n ?? 0) + 1;
    if (n > LAST_TERM)
      throw new MongooseStoreError(
        'ERR_LEASE_INVALID',
        `the newest term in ${coll.collectionName} is the last one a lease counts to (2^52), which only a document written by hand can reach; ` +
          'this store sweeps alone from now on. Drop that collection to start the lease afresh',
      );
    const sent = performance.now();
    try {
      await coll.insertOne({ _id: n, holder: this.me, term: this.term, takenAt: new Date() });
    } catch (err) {
      if (codeOf(err) !== DUPLICATE_KEY) throw err;
      // Another instance won this term.
      this.validUntil = 0;
      await this.observe(coll);
      return;
    }
    const confirmed = await this.observe(coll);
    if (confirmed?.n !== n || confirmed.holder !== this.me) {
      this.validUntil = 0;
      return;
    }
    this.validUntil = sent + this.term * (1 - MARGIN);
    if (n > 2) await coll.deleteMany({ _id: { $lt: n - 1 } });
    if (!mine && !free) {
      log('took the sweep lease over from an instance that stopped renewing it');
      this.hooks.taken();
    }
  }

  /**
   * Reads the newest term, and remembers when it was first seen.
   *
   * A document that is not a well-formed term is ignored, and reported once. One numbered
   * outside the terms' range (a string or an object sorts above every number) is skipped
   * with a second read of the range. One that is numbered as a term but whose holder or
   * term is wrong still takes up its number: the chain goes on above it, and it is watched
   * as a term of this instance's length held by nobody, so it is taken over once it has
   * been seen for a whole term, as a silent holder's would be.
   */
  private async observe(coll: mongo.Collection<LeaseTerm>): Promise<Lease['newest']> {
    let doc: mongo.Document | undefined = (
      await coll.find({}, { sort: { _id: -1 }, limit: 1 }).toArray()
    )[0];
    if (doc !== undefined && !isTermNumber(doc._id)) {
      this.stray(coll, doc, BAD_NUMBER);
      doc = await this.newestNumbered(coll);
    }
    if (doc === undefined) {
      this.newest = undefined;
      return undefined;
    }
    const flaw = flawOf(doc);
    if (flaw !== undefined) this.stray(coll, doc, flaw);
    const n = doc._id as number;
    const holder = flaw === undefined ? (doc.holder as string | null) : NOBODY;
    const term = flaw === undefined ? (doc.term as number) : this.term;
    if (this.newest?.n !== n || this.newest.holder !== holder) {
      this.newest = { n, holder, term, seenAt: performance.now() };
    }
    return this.newest;
  }

  /** The document with the highest term number, skipping (and reporting) fractional ones. */
  private async newestNumbered(
    coll: mongo.Collection<LeaseTerm>,
  ): Promise<mongo.Document | undefined> {
    const cursor = coll
      .find({ _id: { $gte: 1, $lte: LAST_TERM } }, { sort: { _id: -1 } })
      .batchSize(4);
    try {
      for await (const doc of cursor as AsyncIterable<mongo.Document>) {
        if (isTermNumber(doc._id)) return doc;
        this.stray(coll, doc, BAD_NUMBER);
      }
      return undefined;
    } finally {
      await cursor.close();
    }
  }

  /** Reports a stray document once, by what is wrong with it: never by what it holds. */
  private stray(coll: mongo.Collection<LeaseTerm>, doc: mongo.Document, flaw: string): void {
    const key = `${flaw}\u0000${mongoose.mongo.BSON.EJSON.stringify({ _id: doc._id })}`;
    if (this.reported.has(key)) return;
    const message =
      `a document in ${coll.collectionName} is not a term of the sweep lease (${flaw}); ` +
      'it is ignored, and the lease goes on without it. Delete it';
    if (this.reported.size >= REPORTED_MAX) {
      log('%s', message);
      return;
    }
    this.reported.add(key);
    log('%s', message);
    this.hooks.invalid(new MongooseStoreError('ERR_LEASE_INVALID', message));
  }

  private async release(): Promise<void> {
    const coll = this.coll;
    const own = this.newest;
    if (!this.held || this.alone || coll === undefined || own?.holder !== this.me) return;
    this.validUntil = 0;
    try {
      await coll.insertOne({ _id: own.n + 1, holder: null, term: 0, takenAt: new Date() });
      log('gave the sweep lease up');
    } catch (err) {
      // Lost or refused: the term simply runs out, and another instance takes over then.
      log('could not give the sweep lease up (%s); it ends with its term', (err as Error).message);
    }
  }
}
