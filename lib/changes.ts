import { createHash } from 'node:crypto';
import mongoose from 'mongoose';

/**
 * Whether two stored data values are the same: a save that finds the data unchanged since
 * load (`resave: true`, rolling cookies) writes only what a touch writes. Strings (the json
 * serializer) compare as they are, at no cost; other values by a digest of their BSON, taken
 * only here, when a loaded session is saved, never on a read.
 */
export function sameData(a: unknown, b: unknown): boolean {
  if (a === undefined || b === undefined) return false;
  if (typeof a === 'string' || typeof b === 'string') return a === b;
  return digest(a) === digest(b);
}

/** A digest of a stored value's BSON. */
function digest(stored: unknown): string {
  return createHash('sha1')
    .update(mongoose.mongo.BSON.serialize({ v: stored }))
    .digest('base64');
}
