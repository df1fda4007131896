import { codeOf, MongooseStoreError, serverSaid } from './errors.js';

/**
 * Server error codes for a document over the size limit: mongod's, and FerretDB 2 with
 * DocumentDB's (302776349, "Size … is larger than MaxDocumentSize").
 */
const TOO_LARGE = new Set([10334, 17419, 17420, 302776349]);
/** Server error codes for a document the server cannot hold (bad field names, bad values). */
const REJECTED = new Set([2, 52, 56, 57]);

/**
 * The error to pass on for a failed write: typed when the server refused the document, else
 * the error as it is. The server's message is never kept: it may quote the session.
 */
export function rejection(err: unknown): unknown {
  const code = codeOf(err) as number;
  if (TOO_LARGE.has(code)) {
    return new MongooseStoreError(
      'ERR_SESSION_TOO_LARGE',
      `the server refused the session as over its document limit: ${serverSaid(err)}`,
    );
  }
  if (REJECTED.has(code)) {
    return new MongooseStoreError(
      'ERR_SESSION_REJECTED',
      `the server refused the session (a key or value it cannot hold): ${serverSaid(err)}`,
    );
  }
  return err;
}

/** `write`, with a refused document turned into a typed error (see {@link rejection}). */
export function refusing<T>(write: Promise<T>): Promise<T> {
  return write.catch((err: unknown) => {
    throw rejection(err);
  });
}
