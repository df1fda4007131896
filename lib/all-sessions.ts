import type { SessionData } from 'express-session';
import type { mongo } from 'mongoose';
import { deleteInBatches } from './batches.js';
import type { DecodedSession, SessionCodec } from './codec.js';
import { bornAfter, liveFilter, peerLive, type SessionDocument } from './document.js';
import { typeError } from './errors.js';
import type { GuardedWrites } from './guarded.js';
import type { ResolvedOptions } from './options.js';
import { reencryptAll } from './reencrypt.js';

/** What the whole-collection operations need from the session operations. */
export interface AllSessionsHooks {
  /** Decodes a stored session, or gives `null` (reported) when it cannot. */
  decode(doc: SessionDocument): DecodedSession | null;
  /** Decodes a stored session, or gives `null` without a report: for counting. */
  decodeQuietly(doc: SessionDocument): DecodedSession | null;
  /** A problem that fails no request. */
  report(err: Error): void;
}

/** The operations over every session: `all`, `length`, `clear` and `reencrypt`. */
export class AllSessions {
  constructor(
    private readonly options: ResolvedOptions,
    private readonly codec: SessionCodec,
    private readonly guarded: GuardedWrites,
    private readonly collection: () => Promise<mongo.Collection<SessionDocument>>,
    private readonly hooks: AllSessionsHooks,
  ) {}

  /** Every live session that can be read, by id. */
  async list(): Promise<Record<string, SessionData>> {
    const now = new Date();
    const docs = await (await this.collection())
      .find(liveFilter(now, this.options.legacy, bornAfter(now, this.options.maxLifetime)))
      .toArray();
    const entries: [string, SessionData][] = [];
    for (const doc of docs) {
      const decoded = this.hooks.decode(doc);
      if (decoded !== null) entries.push([doc._id, decoded.session]);
    }
    // fromEntries defines own properties, so an id like "__proto__" cannot touch the prototype.
    return Object.fromEntries(entries);
  }

  /**
   * How many live sessions there are, as {@link list} would give them: this store's by an
   * index-backed count; with `legacy`, the peers' one by one, leaving out any that cannot be
   * read, as `all()` does.
   */
  async count(): Promise<number> {
    const coll = await this.collection();
    const now = new Date();
    const ours = await coll.countDocuments(
      liveFilter(now, false, bornAfter(now, this.options.maxLifetime)),
    );
    if (!this.options.legacy) return ours;
    let peers = 0;
    for await (const doc of coll.find(peerLive(now))) {
      if (this.hooks.decodeQuietly(doc) !== null) peers++;
    }
    return ours + peers;
  }

  /** Deletes every session, in bounded batches. */
  async clear(): Promise<void> {
    await deleteInBatches((await this.collection()) as unknown as mongo.Collection, {}, '_id');
  }

  /** Re-encrypts every live session still under an older secret; resolves to how many. */
  async reencrypt(): Promise<number> {
    if (this.options.cipher === undefined)
      throw typeError('reencrypt: the secret option is not set, so no session is encrypted');
    return reencryptAll(await this.collection(), this.codec, this.guarded, this.hooks.report);
  }
}
