import type { mongo } from 'mongoose';
import type { SessionCodec } from './codec.js';
import { MongooseStoreError } from './errors.js';
import type { GuardedWrites } from './guarded.js';
import { isLegacy } from './legacy.js';
import { log } from './log.js';
import type { SessionDocument } from './schema.js';

/** Sessions read per batch: the memory `reencrypt()` holds at once. */
export const REENCRYPT_BATCH = 1_000;
/** Rewrites in flight at once: enough to hide round trips, few enough to leave the app room. */
const PARALLEL = 4;
/** Tries per session when the app changes it between our read and our write. */
const ATTEMPTS = 3;

/** What a re-encryption did. */
export interface Reencrypted {
  /** Sessions rewritten with the newest secret. */
  rewritten: number;
  /** Live sessions that no secret decrypts; left as they are. */
  undecryptable: number;
}

/**
 * Walks the collection by `_id` in batches of {@link REENCRYPT_BATCH}, and rewrites each live
 * session still under an older secret with the newest. Each write is guarded by the values
 * read (see {@link GuardedWrites}): a session the app saved meanwhile is read again and
 * retried, never overwritten with what it held before.
 */
export async function reencryptAll(
  coll: mongo.Collection<SessionDocument>,
  codec: SessionCodec,
  guarded: GuardedWrites,
): Promise<Reencrypted> {
  const done: Reencrypted = { rewritten: 0, undecryptable: 0 };
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
  log('reencrypt: %d rewritten, %d undecryptable', done.rewritten, done.undecryptable);
  return done;
}

async function rewrite(
  coll: mongo.Collection<SessionDocument>,
  codec: SessionCodec,
  guarded: GuardedWrites,
  first: SessionDocument,
): Promise<'rewritten' | 'undecryptable' | 'skipped'> {
  let doc: SessionDocument | null = first;
  for (let attempt = 0; attempt < ATTEMPTS && doc !== null; attempt++) {
    // An expired session is never read again: the TTL index or the sweeper deletes it.
    if (isLegacy(doc) || !(doc.expiresAt > new Date())) return 'skipped';
    let fields: ReturnType<SessionCodec['resealed']>;
    try {
      fields = codec.resealed(doc);
    } catch (err) {
      if (err instanceof MongooseStoreError) return 'undecryptable';
      throw err;
    }
    if (fields === undefined) return 'skipped';
    const expected = { cookie: doc.cookie, session: doc.session };
    if (await guarded.update(doc._id, expected, { $set: fields })) return 'rewritten';
    // Changed meanwhile (a save, a touch, a delete): look again.
    doc = await coll.findOne({ _id: doc._id });
  }
  return 'skipped';
}
