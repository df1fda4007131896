import mongoose from 'mongoose';
import type { IndexSpec } from './indexes.js';

/** One stored session, as it is in the collection. */
export interface SessionDocument {
  /** The session id. */
  _id: string;
  /** When the session expires; the TTL index and every read go by it. */
  expiresAt: Date;
  /** The session's cookie, as the serializer stored it. */
  cookie: unknown;
  /** Everything else in the session, as the serializer stored it. */
  session: unknown;
  /** The session's user (see the `userId` option); absent for a session without one. */
  user?: string;
  /**
   * Only in a document connect-mongo or connect-mongodb-session wrote: its expiry. Such a
   * document is read in place, and rewritten in this shape by its next `set` or `touch`.
   */
  expires?: Date;
}

/**
 * The mongoose schema of a session document, with its TTL index declared on `expiresAt`.
 *
 * The store does not let mongoose build indexes: it builds this one itself and reads the
 * server's answer. Use the schema for a model of your own to query sessions, for example
 * `connection.model('Session', sessionSchema, 'sessions')`.
 */
export const sessionSchema = new mongoose.Schema<SessionDocument>(
  {
    _id: { type: String, required: true },
    expiresAt: { type: Date, required: true, index: { expireAfterSeconds: 0 } },
    cookie: { type: mongoose.Schema.Types.Mixed },
    session: { type: mongoose.Schema.Types.Mixed },
    user: { type: String },
  },
  { versionKey: false, autoIndex: false, autoCreate: false, strict: false },
);

/** The TTL index as the schema declares it. */
export function ttlIndexSpec(): IndexSpec {
  const spec = sessionSchema.indexes().find(([key]) => 'expiresAt' in key);
  if (spec === undefined)
    throw new Error('connect-mongoose-session: the schema lost its TTL index');
  return spec as IndexSpec;
}
