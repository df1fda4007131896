import mongoose from 'mongoose';
import { MongooseStoreError } from './errors.js';

// A value the server would store wrongly, or not at all, is refused here, before anything is
// sent: FerretDB closes the whole connection on a NaN (every user's request then loses its
// session until it reconnects), the BSON encoder wraps a BigInt to 64 bits, and an Invalid
// Date is stored as 1970. Messages name the kind of value and never the key or the value.

function serializeError(what: string): MongooseStoreError {
  return new MongooseStoreError(
    'ERR_SESSION_SERIALIZE',
    `the session holds ${what}, which BSON cannot store faithfully`,
  );
}

function rejected(what: string): MongooseStoreError {
  return new MongooseStoreError(
    'ERR_SESSION_REJECTED',
    `the session holds ${what}, which servers refuse; nothing was sent`,
  );
}

/** BSON wrapper types (Double, Decimal128, Long, ObjectId…) carry `_bsontype`. */
function checkBsonType(value: { _bsontype: unknown }): void {
  const numeric = value._bsontype === 'Double' || value._bsontype === 'Decimal128';
  if (numeric && /^-?(NaN|Inf)/.test(String(value))) throw rejected('a NaN or infinite number');
}

function walk(value: unknown, path: Set<object>): void {
  switch (typeof value) {
    case 'number':
      if (!Number.isFinite(value)) throw rejected('a NaN or infinite number');
      return;
    case 'bigint':
      throw serializeError('a BigInt');
    case 'object':
      break;
    default:
      return;
  }
  if (value === null) return;
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw serializeError('an Invalid Date');
    return;
  }
  if ('_bsontype' in value) {
    checkBsonType(value as { _bsontype: unknown });
    return;
  }
  if (ArrayBuffer.isView(value) || value instanceof RegExp) return;
  if (path.has(value)) throw serializeError('a cycle');
  path.add(value);
  // The encoder stores a Map's entries and any other object's own enumerable properties.
  const entries = value instanceof Map ? [...value] : Object.entries(value);
  for (const [key, child] of entries) {
    const name = String(key);
    if (name.includes('\0')) throw rejected('a key with a NUL byte');
    // mongod 5+ holds these, FerretDB does not, and FerretDB 1.x drops an update that holds
    // one without a word: refused on every server, so a session works the same on each.
    if (name.includes('.') || name.startsWith('$'))
      throw rejected('a key with a dot or a leading $');
    walk(child, path);
  }
  path.delete(value);
}

/**
 * Checks that `value` can be stored as BSON exactly as it is.
 *
 * @throws MongooseStoreError `ERR_SESSION_REJECTED` for a NaN or infinite number or a key with a
 *   NUL byte; `ERR_SESSION_SERIALIZE` for a BigInt, an Invalid Date or a cycle.
 */
export function checkBsonValue(value: Record<string, unknown>): void {
  walk(value, new Set());
}

/**
 * The bytes of a stored binary value of subtype 0, or `undefined` when `v` is none: a BSON
 * Binary (a view into the driver's buffer, cut to its length), or a Buffer, as the driver gives
 * subtype 0 back under `promoteBuffers`. A document that only looks like a Binary (an object
 * with `_bsontype: 'Binary'` stored by a database writer) is none: it reads as missing.
 */
export function binaryBytes(v: unknown): Buffer | undefined {
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (!(v instanceof mongoose.mongo.BSON.Binary) || v.sub_type !== 0) return undefined;
  const b: unknown = v.buffer;
  const n = v.position;
  if (!(b instanceof Uint8Array) || !Number.isInteger(n) || n < 0 || n > b.byteLength)
    return undefined;
  return Buffer.from(b.buffer, b.byteOffset, n);
}
