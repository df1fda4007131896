/** How many sessions {@link Recent} keeps before it forgets the oldest. */
const CAPACITY = 10_000;

/**
 * Something about sessions this process read or wrote lately, by session id, bounded: the
 * oldest is forgotten first. What it holds may only save work, so forgetting is always safe.
 */
export class Recent<V> {
  private readonly byId = new Map<string, V>();

  /** @param capacity - how many sessions to keep before forgetting the oldest. */
  constructor(private readonly capacity = CAPACITY) {}

  /** What is remembered of `sid`, if anything. */
  get(sid: string): V | undefined {
    return this.byId.get(sid);
  }

  /** Records `value` for `sid`. */
  remember(sid: string, value: V): void {
    this.byId.delete(sid);
    this.byId.set(sid, value);
    if (this.byId.size > this.capacity) this.byId.delete(this.byId.keys().next().value as string);
  }

  /** Forgets `sid`, or everything when no id is given. */
  forget(sid?: string): void {
    if (sid === undefined) this.byId.clear();
    else this.byId.delete(sid);
  }
}

/**
 * The stored expiry of sessions (epoch milliseconds), so that `touchAfter` can skip a write
 * without reading first and without putting anything into the session.
 *
 * It may only make the store write more often than needed, never less: a forgotten or
 * unknown session is simply written.
 */
export class RecentExpiries extends Recent<number> {}
