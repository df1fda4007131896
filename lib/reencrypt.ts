import type { mongo } from 'mongoose';
import type { Resealed, SessionCodec } from './codec.js';
import { MongooseStoreError } from './errors.js';
import type { GuardedWrites } from './guarded.js';
import { isLegacy } from './legacy.js';
import { log } from './log.js';
import type { SessionDocument } from './schema.js';

/** Sessions read per batch: the memory `reencrypt()` holds at once. */
export const REENCRYPT_BATCH = 1_000;
/** Rewrites in flight at once: enough to hide round trips, few enough to leave the app room. */
const PARALLEL = 4;
/** Tries per session and pass when the app changes it between our read and our write. */
const ATTEMPTS = 3;
/** Passes over the collection before giving up on sessions that stay under an older secret. */
export const REENCRYPT_PASSES = 5;

/** What one pass over the collection did. */
export interface Reencrypted {
  /** Sessions rewritten with the newest secret. */
  rewritten: number;
  /** Live sessions still under an older secret after {@link ATTEMPTS} tries each. */
  left: number;
  /** Live sessions that no secret decrypts; left as they are. */
  undecryptable: number;
  /** Live sessions that decrypt, but that the serializer cannot read; left as they are. */
  unreadable: number;
}

/**
 * Rewrites every live session still under an older secret with the newest, in passes over
 * the collection until one finds none to rewrite: a pass that rewrote anything is checked by
 * the next (on a server whose updates are not atomic, a touch under way may have put an old
 * value back). At most {@link REENCRYPT_PASSES} passes; `left` then counts what remains.
 */
export async function reencryptAll(
  coll: mongo.Collection<SessionDocument>,
  codec: SessionCodec,
  guarded: GuardedWrites,
): Promise<Reencrypted> {
  const total: Reencrypted = { rewritten: 0, left: 0, undecryptable: 0, unreadable: 0 };
  for (let pass = 1; pass <= REENCRYPT_PASSES; pass++) {
    const done = await onePass(coll, codec, guarded);
    total.rewritten += done.rewritten;
    Object.assign(total, {
      left: done.left,
      undecryptable: done.undecryptable,
      unreadable: done.unreadable,
    });
    log('reencrypt pass %d: %d rewritten, %d left', pass, done.rewritten, done.left);
    if (done.rewritten === 0 && done.left === 0) break;
  }
  return total;
}

/**
 * One walk of the collection by `_id` in batches of {@link REENCRYPT_BATCH}. Each write is
 * guarded by the values read (see {@link GuardedWrites}): a session the app saved meanwhile is
 * read again and retried, never overwritten with what it held before.
 */
async function onePass(
  coll: mongo.Collection<SessionDocument>,
  codec: SessionCodec,
  guarded: GuardedWrites,
): Promise<Reencrypted> {
  const done: Reencrypted = { rewritten: 0, left: 0, undecryptable: 0, unreadable: 0 };
  let after: string | undefined;
  for (;;) {
    const filter: mongo.Filter<SessionDocument> =
      after === undefined ? {} : { _id: { $gt: after } };
    const docs = await coll.find(filter).sort({ _id: 1 }).limit(REENCRYPT_BATCH).toArray();
    if (docs.length === 0) break;
    after = (docs[docs.length - 1] as SessionDocument)._id;
    let next = 0;
    const worker = async () => {
      while (next < docs.length) {
        const outcome = await rewrite(coll, codec, guarded, docs[next++] as SessionDocument);
        if (outcome !== 'skipped') done[outcome]++;
      }
    };
    await Promise.all(Array.from({ length: PARALLEL }, worker));
    if (docs.length < REENCRYPT_BATCH) break;
  }
  return done;
}

async function rewrite(
  coll: mongo.Collection<SessionDocument>,
  codec: SessionCodec,
  guarded: GuardedWrites,
  first: SessionDocument,
): Promise<keyof Reencrypted | 'skipped'> {
  let doc: SessionDocument | null = first;
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    // An expired session is never read again: the TTL index or the sweeper deletes it.
    if (doc === null || isLegacy(doc) || !(doc.expiresAt > new Date())) return 'skipped';
    let resealed: Resealed | undefined;
    try {
      resealed = codec.resealed(doc);
    } catch (err) {
      if (!(err instanceof MongooseStoreError)) throw err;
      if (err.code === 'ERR_SESSION_DECRYPT') return 'undecryptable';
      // Its userId function fails on it: it cannot be sealed with its user. Left, and said.
      return err.code === 'ERR_INVALID_USER_ID' ? 'left' : 'unreadable';
    }
    if (resealed === undefined) return 'skipped';
    // Only what is rewritten is guarded: a touch that moved the cookie meanwhile does not
    // stand in the way of re-encrypting the data.
    if (await guarded.update(doc._id, resealed.expected, resealed.update)) return 'rewritten';
    // Changed meanwhile (a save, a touch, a delete): look again.
    doc = await coll.findOne({ _id: doc._id });
  }
  return 'left';
}
