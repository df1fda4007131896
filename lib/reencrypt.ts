import type { mongo } from 'mongoose';
import type { Resealed, SessionCodec } from './codec.js';
import { afterId, BY_ID, byId, isPeer, type SessionDocument } from './document.js';
import { MongooseStoreError } from './errors.js';
import type { GuardedWrites } from './guarded.js';
import { log } from './log.js';
import { retrying } from './retry.js';

/** Sessions read per batch: the memory `reencrypt()` holds at once. */
export const REENCRYPT_BATCH = 1_000;
/** Rewrites in flight at once: enough to hide round trips, few enough to leave the app room. */
const PARALLEL = 4;
/** Tries per session and pass when the app changes it between our read and our write. */
const ATTEMPTS = 3;
/** Passes over the collection before giving up on sessions that stay under an older secret. */
export const REENCRYPT_PASSES = 5;

/** What one pass over the collection did. */
interface Reencrypted {
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
 * the collection until one finds none to rewrite. Only such a pass says the work is done: a
 * session rewritten by a pass may be put back under an older secret before the pass ends (an
 * instance that still writes with an older secret first, or, on a server whose updates are not
 * atomic, a touch under way). Sessions that cannot be read are left, and each kind is reported
 * once through `report`. Each read and each guarded write is tried again after a transient
 * server error (see {@link retrying}). Resolves to how many it rewrote.
 * @throws MongooseStoreError `ERR_REENCRYPT_INCOMPLETE` when its last of
 *   {@link REENCRYPT_PASSES} passes still found sessions under an older secret;
 *   `ERR_SERVER_BUSY` when one step kept meeting a transient server error.
 */
export async function reencryptAll(
  coll: mongo.Collection<SessionDocument>,
  codec: SessionCodec,
  guarded: GuardedWrites,
  report: (err: Error) => void,
): Promise<number> {
  let rewritten = 0;
  let last: Reencrypted | undefined;
  for (let pass = 1; pass <= REENCRYPT_PASSES; pass++) {
    last = await onePass(coll, codec, guarded);
    rewritten += last.rewritten;
    log('reencrypt pass %d: %d rewritten, %d left', pass, last.rewritten, last.left);
    if (last.rewritten === 0 && last.left === 0) break;
  }
  const { left, undecryptable, unreadable } = last as Reencrypted;
  if (undecryptable > 0)
    report(
      new MongooseStoreError(
        'ERR_SESSION_DECRYPT',
        `reencrypt: ${undecryptable} live sessions decrypt with none of the secrets; they were left as they are and read as missing`,
      ),
    );
  if (unreadable > 0)
    report(
      new MongooseStoreError(
        'ERR_SESSION_UNREADABLE',
        `reencrypt: ${unreadable} live sessions decrypt but cannot be read by the serializer; they were left as they are and read as missing`,
      ),
    );
  // What the last pass rewrote may have been put back under an older secret since, unseen.
  const unsure = left + (last as Reencrypted).rewritten;
  if (unsure > 0)
    throw new MongooseStoreError(
      'ERR_REENCRYPT_INCOMPLETE',
      `reencrypt: the last of ${REENCRYPT_PASSES} passes still found ${unsure} live sessions to seal again, under an older secret or in the other form (${left} of them left so; ${rewritten} rewritten in all); is an instance still writing with an older secret first, or with another secretFormat, or does the userId function fail on them? Keep every secret until reencrypt() resolves`,
    );
  return rewritten;
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
    const filter = afterId(after);
    const docs = await retrying('reencrypt: reading a batch', () =>
      coll.find(filter).sort(BY_ID).limit(REENCRYPT_BATCH).toArray(),
    );
    // Only string ids are sessions. A server that compares across types may still give an id
    // sorted after the strings (an ObjectId): the walk ends there.
    const sessions = docs.filter((d) => typeof d._id === 'string');
    if (sessions.length === 0) break;
    after = (sessions[sessions.length - 1] as SessionDocument)._id;
    let next = 0;
    const worker = async () => {
      while (next < sessions.length) {
        const outcome = await rewrite(coll, codec, guarded, sessions[next++] as SessionDocument);
        if (outcome !== 'skipped') done[outcome]++;
      }
    };
    await Promise.all(Array.from({ length: PARALLEL }, worker));
    if (sessions.length < REENCRYPT_BATCH) break;
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
    if (doc === null || isPeer(doc) || !(doc.expiresAt > new Date())) return 'skipped';
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
    const sid: string = doc._id;
    const { expected, update } = resealed;
    // Safe to repeat: a write that landed though its answer was lost no longer matches, and
    // the session is then read again, found current, and skipped.
    const done = await retrying('reencrypt: rewriting a session', () =>
      guarded.update(sid, expected, update),
    );
    if (done) return 'rewritten';
    // Changed meanwhile (a save, a touch, a delete): look again.
    doc = await retrying('reencrypt: reading a session again', () => coll.findOne(byId(sid)));
  }
  return 'left';
}
