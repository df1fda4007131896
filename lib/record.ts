import type { DeviceMeta } from './devices.js';
import type { PeerForm } from './legacy.js';

/**
 * What the store knows of one session it loaded: kept beside the session object, never in a
 * cache by id, so it lives exactly as long as the request that holds the session, and no
 * eviction can make a write wrong.
 */
export interface SessionRecord {
  /** The id it was read under: a write under another id ignores the record. */
  readonly sid: string;
  /** The stored data before sealing, to tell an unchanged session; `undefined` for a peer's. */
  data: unknown;
  /** The stored expiry, in epoch milliseconds, as last read or written. */
  expiresAt: number;
  /**
   * The stored cookie but its expiry, as last read or written (see `SessionCodec.cookieKey`):
   * a touch writes the cookie only when it differs. `undefined` when unknown.
   */
  cookie: string | undefined;
  /** When it was first stored (epoch ms); `undefined` when the document had no `createdAt`. */
  createdAt: number | undefined;
  /** Its `user` field as stored, to tell a sign-in (the user cap is checked then). */
  user: string | undefined;
  /** The device recorded for it, to write a new one only when it changes. */
  device: DeviceMeta | undefined;
  /** In a peer's shape, and in which form: the next write rewrites it whole. */
  peer: PeerForm | undefined;
  /**
   * express-session built its request's session from it (`createSession`): the session was
   * live when the request began, and a save never re-creates it once destroyed.
   */
  inRequest: boolean;
  /**
   * Sealed under an older secret: the stored data and user hash as read, so that the next
   * write re-encrypts them, guarded by what was read. `undefined` when current.
   */
  stale: { session: unknown; user: string | undefined } | undefined;
}

/**
 * One {@link SessionRecord} per loaded session object. A session a caller built itself, or
 * one whose record belongs to another id, has none: its writes make no assumption (a `touch`
 * then moves only a live session, and always writes).
 */
export class SessionRecords {
  private readonly bySession = new WeakMap<object, SessionRecord>();

  /** The record of `session` when it was loaded under `sid`. */
  of(session: unknown, sid: string): SessionRecord | undefined {
    if (session === null || typeof session !== 'object') return undefined;
    const record = this.bySession.get(session);
    return record?.sid === sid ? record : undefined;
  }

  /** Keeps `record` for `session`, the object `get` returns. */
  keep(session: object, record: SessionRecord): void {
    this.bySession.set(session, record);
  }

  /**
   * express-session built `created` from `loaded` for its request on session `sid`: the record
   * goes with it, as a copy (each request has its own), now marked as in a request. A session
   * loaded without a record (another store's `get`) gets one that only says so.
   */
  carry(loaded: object, created: object, sid: string): void {
    const record = this.bySession.get(loaded);
    this.bySession.set(
      created,
      record?.sid === sid
        ? { ...record, inRequest: true }
        : { ...blankRecord(sid), inRequest: true },
    );
  }
}

/** A record that knows nothing but the id: every write it guides is a full one. */
export function blankRecord(sid: string): SessionRecord {
  return {
    sid,
    data: undefined,
    expiresAt: 0,
    cookie: undefined,
    createdAt: undefined,
    user: undefined,
    device: undefined,
    peer: undefined,
    inRequest: false,
    stale: undefined,
  };
}

/**
 * Whether the stored cookie of `record`'s session is the one `key` names, but for its expiry
 * (which a read takes from `expiresAt`): ours, under the newest secret, as last read or
 * written. A write may then leave it as it is.
 */
export function holdsCookie(record: SessionRecord | undefined, key: string | undefined): boolean {
  return (
    key !== undefined &&
    record?.cookie === key &&
    record.peer === undefined &&
    record.stale === undefined
  );
}
