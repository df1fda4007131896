import type { SessionData } from 'express-session';
import type { mongo } from 'mongoose';
import type { SessionCodec } from './codec.js';
import {
  fullWrite,
  liveById,
  merged,
  peerLiveById,
  peerTouchWrite,
  type SessionDocument,
  type SessionFilter,
  type SessionUpdate,
  touchWrite,
} from './document.js';
import type { GuardedWrites } from './guarded.js';
import type { ResolvedOptions } from './options.js';
import type { SessionRecord } from './record.js';
import { refusing } from './rejection.js';

/**
 * The writes that change a stored session's form as they go: re-encryption of one read under
 * an older secret, and a peer's document moved forward (or into our shape).
 */
export class Rewrites {
  constructor(
    private readonly options: ResolvedOptions,
    private readonly codec: SessionCodec,
    private readonly guarded: GuardedWrites,
    private readonly collection: () => Promise<mongo.Collection<SessionDocument>>,
  ) {}

  /**
   * For a session read under an older secret: a touch's `update`, plus its stored data sealed
   * again with the newest, while the data is still what was read (else a save came between,
   * already under the newest secret). Resolves to whether it wrote.
   */
  async rekey(
    filter: SessionFilter,
    record: SessionRecord,
    update: SessionUpdate,
  ): Promise<boolean> {
    const old = record.stale;
    if (old === undefined) return false;
    record.stale = undefined;
    let resealed: SessionUpdate;
    try {
      resealed = this.codec.reseal(record.sid, old.session, old.user);
    } catch {
      // Its userId function fails on it now: the touch is written as usual, and
      // reencrypt() reports what it cannot rewrite.
      return false;
    }
    const live = (filter.expiresAt as { $gt?: Date } | undefined)?.$gt;
    return refusing(
      this.guarded.update(
        record.sid,
        { session: old.session, liveAt: live },
        merged(update, resealed),
      ),
    );
  }

  /**
   * A touch of a session read in a peer's shape. With `legacy` (a rolling deploy) it moves
   * the peer's expiry as their own touch does, and leaves the shape, so their instances can
   * still read it; without, it rewrites the session whole in ours, only while it is still
   * theirs: one another instance rewrote meanwhile is moved forward as ours.
   */
  async peer(
    sid: string,
    session: SessionData,
    record: SessionRecord,
    at: number,
    now: number,
  ): Promise<void> {
    const coll = await this.collection();
    const expiresAt = new Date(at);
    const seenAt = new Date(now);
    // A peer's document has no createdAt: its life counts from this rewrite.
    const presence = { seenAt, createdAt: seenAt, device: undefined };
    const update = this.options.legacy
      ? peerTouchWrite(expiresAt)
      : fullWrite(this.codec.encode(sid, session, expiresAt).fields, presence);
    const result = await refusing(coll.updateOne(peerLiveById(sid, seenAt), update));
    if (result.matchedCount > 0) {
      record.expiresAt = at;
      if (!this.options.legacy) {
        record.peer = undefined;
        record.createdAt = now;
      }
      return;
    }
    if (this.options.legacy) return;
    record.peer = undefined;
    const cookie = this.codec.cookie(sid, session);
    const moved = await refusing(
      coll.updateOne(liveById(sid, seenAt), touchWrite(expiresAt, cookie, presence)),
    );
    if (moved.matchedCount > 0) record.expiresAt = at;
  }
}
