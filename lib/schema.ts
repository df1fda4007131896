import mongoose from 'mongoose';
import type { SessionDocument } from './document.js';
import type { IndexSpec } from './indexes.js';

export type { SessionDocument } from './document.js';

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
