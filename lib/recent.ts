/** How many session expiries {@link RecentExpiries} keeps before it forgets the oldest. */
const CAPACITY = 10_000;

/**
 * The stored expiry of sessions this process read or wrote lately, so that `touchAfter` can
 * skip a write without reading first and without putting anything into the session.
 *
 * It may only make the store write more often than needed, never less: a forgotten or
 * unknown session is simply written.
 */
export class RecentExpiries {
  private readonly byId = new Map<string, number>();

  /** The stored expiry of `sid` in epoch milliseconds, if known. */
  get(sid: string): number | undefined {
    return this.byId.get(sid);
  }

  /** Records that `sid` is stored with expiry `at` (epoch milliseconds). */
  remember(sid: string, at: number): void {
    this.byId.delete(sid);
    this.byId.set(sid, at);
    if (this.byId.size > CAPACITY) this.byId.delete(this.byId.keys().next().value as string);
  }

  /** Forgets `sid`, or everything when no id is given. */
  forget(sid?: string): void {
    if (sid === undefined) this.byId.clear();
    else this.byId.delete(sid);
  }
}
