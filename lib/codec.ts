import type { SessionData } from 'express-session';
import mongoose from 'mongoose';
import { MongooseStoreError } from './errors.js';
import type { SessionDocument } from './schema.js';
import type { SessionSerializer } from './serializer.js';

/** The server's document size limit, in bytes. */
const MAX_DOCUMENT = 16 * 1024 * 1024;
/** Server error codes for a document over the size limit. */
const TOO_LARGE = new Set([10334, 17419, 17420]);
/** Server error codes for a document the server cannot hold (bad field names, bad values). */
const REJECTED = new Set([2, 52, 56, 57]);

function plainCookie(cookie: unknown): Record<string, unknown> {
  const c = cookie as { toJSON?: () => Record<string, unknown> } | undefined;
  return typeof c?.toJSON === 'function' ? c.toJSON() : ((cookie ?? {}) as Record<string, unknown>);
}

function sizeOf(v: unknown): number {
  return typeof v === 'string'
    ? Buffer.byteLength(v)
    : mongoose.mongo.BSON.calculateObjectSize({ v });
}

/**
 * Turns sessions into documents and back through the chosen serializer. The cookie and the
 * rest of the session are stored apart, so that a touch can rewrite the cookie alone.
 * Every failure is a {@link MongooseStoreError}, raised before anything is written.
 */
export class SessionCodec {
  constructor(private readonly serializer: SessionSerializer) {}

  /** The stored form of a session's cookie. */
  cookie(session: SessionData): unknown {
    return this.serialize(plainCookie(session?.cookie));
  }

  /** The stored fields of a whole session; `ERR_SESSION_TOO_LARGE` past the server's limit. */
  encode(sid: string, session: SessionData, expiresAt: Date): Omit<SessionDocument, '_id'> {
    const { cookie, ...data } = session as SessionData & Record<string, unknown>;
    const doc = {
      expiresAt,
      cookie: this.serialize(plainCookie(cookie)),
      session: this.serialize(data),
    };
    if (sizeOf(doc.cookie) + sizeOf(doc.session) + Buffer.byteLength(sid) + 64 > MAX_DOCUMENT) {
      throw new MongooseStoreError(
        'ERR_SESSION_TOO_LARGE',
        `session ${sid} is over the 16 MiB document limit`,
      );
    }
    return doc;
  }

  /** The session a document holds, as express-session expects it: cookie first. */
  decode(doc: SessionDocument): SessionData {
    try {
      return {
        cookie: this.serializer.deserialize(doc.cookie),
        ...this.serializer.deserialize(doc.session),
      } as unknown as SessionData;
    } catch (err) {
      throw new MongooseStoreError(
        'ERR_SESSION_SERIALIZE',
        `stored session ${doc._id} could not be read`,
        err,
      );
    }
  }

  /** The error to report for a failed write of `sid`: typed when the server refused the document. */
  rejection(sid: string, err: unknown): unknown {
    const code = (err as { code?: unknown } | null)?.code as number;
    if (TOO_LARGE.has(code)) {
      return new MongooseStoreError(
        'ERR_SESSION_TOO_LARGE',
        `session ${sid} is over the document limit`,
        err,
      );
    }
    if (REJECTED.has(code)) {
      return new MongooseStoreError(
        'ERR_SESSION_REJECTED',
        `the server refused session ${sid}: ${(err as Error).message}`,
        err,
      );
    }
    return err;
  }

  private serialize(value: Record<string, unknown>): unknown {
    try {
      return this.serializer.serialize(value);
    } catch (err) {
      throw new MongooseStoreError(
        'ERR_SESSION_SERIALIZE',
        `session could not be serialized: ${(err as Error).message}`,
        err,
      );
    }
  }
}
