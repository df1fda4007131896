import type { SessionCipher } from './cipher.js';
import { type DeviceMeta, readDevice } from './devices.js';
import type { SessionDocument } from './document.js';
import { MongooseStoreError } from './errors.js';

/** Which stored fields of a document are sealed under an older secret. */
export interface StaleFields {
  /** The data (with its user hash). */
  data: boolean;
  /** The cookie. */
  cookie: boolean;
  /** The device (with `metadata`): rewritten by `reencrypt()` alone, never by a request. */
  device: boolean;
}

/**
 * How the stored fields are kept: in clear, or sealed under `secret`. It owns which fields are
 * sealed, with what they are bound to, and what the `user` field holds. Chosen once, from the
 * options; nothing else branches on the cipher.
 *
 * The rule both keep: the user is derived from the data, and written only with it. Sealed,
 * the data is bound to its user hash, so a `user` field changed in the database leaves a
 * session that does not decrypt.
 */
export interface Sealing {
  /** Whether a document in clear (a peer's, or one written before `secret`) may be read. */
  readonly readsClear: boolean;
  /** The stored data: `serialized`, for session `sid`, with its `user` field value. */
  sealData(sid: string, serialized: unknown, user: string | undefined): unknown;
  /** The serialized data of a stored value; throws `ERR_SESSION_DECRYPT` when sealed wrongly. */
  openData(sid: string, stored: unknown, user: string | undefined): unknown;
  /** The stored cookie: `serialized`, for session `sid`. */
  sealCookie(sid: string, serialized: unknown): unknown;
  /** The serialized cookie of a stored value; throws `ERR_SESSION_DECRYPT` when sealed wrongly. */
  openCookie(sid: string, stored: unknown): unknown;
  /** The stored device of session `sid`. */
  sealDevice(sid: string, device: DeviceMeta): unknown;
  /** The device a stored value holds; throws `ERR_SESSION_DECRYPT` when sealed wrongly. */
  openDevice(sid: string, stored: unknown): DeviceMeta | undefined;
  /** What the `user` field holds for `userId`. */
  userField(userId: string): string;
  /** What the `user` field of `userId`'s sessions may hold: the user methods' query. */
  userQuery(userId: string): string | { $in: string[] };
  /** Which fields of `doc` are sealed under an older secret; `undefined` when none is. */
  stale(doc: SessionDocument): StaleFields | undefined;
}

/** Sessions stored in clear: the serializer's values as they are, the user id as it is. */
export const plainSealing: Sealing = {
  readsClear: true,
  sealData: (_sid, serialized) => serialized,
  openData: (_sid, stored) => stored,
  sealCookie: (_sid, serialized) => serialized,
  openCookie: (_sid, stored) => stored,
  sealDevice: (_sid, device) => device,
  openDevice: (_sid, stored) => readDevice(stored),
  userField: (userId) => userId,
  userQuery: (userId) => userId,
  stale: () => undefined,
};

/** A value to seal must be text: the serializer gave something else. */
function notText(serialized: unknown): MongooseStoreError {
  return new MongooseStoreError(
    'ERR_SESSION_SERIALIZE',
    `with a secret, the serializer must give a string, and it gave ${serialized === null ? 'null' : typeof serialized}`,
  );
}

/**
 * Sessions sealed under `secret` (see {@link SessionCipher}): cookie and data encrypted and
 * bound to the session id and field, the data also to its user hash; `user` is a keyed hash.
 */
export class SealedSealing implements Sealing {
  readonly readsClear = false;

  constructor(private readonly cipher: SessionCipher) {}

  sealData(sid: string, serialized: unknown, user: string | undefined): unknown {
    if (typeof serialized !== 'string') throw notText(serialized);
    return this.cipher.seal(sid, 'session', serialized, user);
  }

  openData(sid: string, stored: unknown, user: string | undefined): unknown {
    return this.cipher.open(sid, 'session', stored, user);
  }

  sealCookie(sid: string, serialized: unknown): unknown {
    if (typeof serialized !== 'string') throw notText(serialized);
    return this.cipher.seal(sid, 'cookie', serialized);
  }

  openCookie(sid: string, stored: unknown): unknown {
    return this.cipher.open(sid, 'cookie', stored);
  }

  sealDevice(sid: string, device: DeviceMeta): unknown {
    return this.cipher.seal(sid, 'device', JSON.stringify(device));
  }

  openDevice(sid: string, stored: unknown): DeviceMeta | undefined {
    if (stored === undefined) return undefined;
    const text = this.cipher.open(sid, 'device', stored);
    try {
      return readDevice(JSON.parse(text));
    } catch {
      return undefined;
    }
  }

  userField(userId: string): string {
    return this.cipher.userHash(userId);
  }

  userQuery(userId: string): string | { $in: string[] } {
    // Under every secret: a session not re-encrypted yet still holds an older key's hash.
    const hashes = this.cipher.userHashes(userId);
    return hashes.length === 1 ? (hashes[0] as string) : { $in: hashes };
  }

  stale(doc: SessionDocument): StaleFields | undefined {
    const data = !this.cipher.current(doc.session);
    const cookie = !this.cipher.current(doc.cookie);
    const device = doc.device !== undefined && !this.cipher.current(doc.device);
    return data || cookie || device ? { data, cookie, device } : undefined;
  }
}

/** The sealing the options ask for: sealed under a cipher, else in clear. */
export function sealingOf(cipher: SessionCipher | undefined): Sealing {
  return cipher === undefined ? plainSealing : new SealedSealing(cipher);
}
