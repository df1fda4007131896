/** One sealed value, what it opened to and what for: a link of the least-recently-used list. */
interface Opened {
  /** The sealed text (or, for a binary value, its bytes as Latin-1): the key. */
  sealed: string;
  sid: string;
  field: string;
  bound: string;
  plain: string;
  /** Its share of the budget: the characters it keeps alive. */
  size: number;
  /** The next less recently used, and the next more recently used. */
  older: Opened | undefined;
  newer: Opened | undefined;
}

/**
 * The plaintext of the sealed values this process wrote or opened lately, by their sealed text
 * (a binary value: its bytes as Latin-1), so that a session read again is not decrypted again:
 * a session is read on every request and sealed again only when it changes, and under load
 * each decryption costs tens of µs of CPU (OpenSSL builds a cipher context for each one).
 *
 * A value is given back only for the session id, field and bound data it was sealed or opened
 * for: the one case where decrypting it again would succeed, with this same answer, since a
 * sealed text holds its key tag and the keys do not change in a process. A value copied to
 * another session, field or user misses, and is decrypted, and refused, as before.
 *
 * Bounded by characters, the least recently used first out.
 */
export class OpenedValues {
  readonly #entries = new Map<string, Opened>();
  /** The least and the most recently used: a list, so that no use walks the Map. */
  #oldest: Opened | undefined;
  #newest: Opened | undefined;
  #size = 0;

  /**
   * @param budget - what is kept at most, in characters (sealed text and plaintext), > 0.
   * @param perEntry - what each kept value costs beside its text, counted against `budget` as
   *   that many characters: V8's Map slot, the entry object and the strings' headers. Default 0.
   */
  constructor(
    private readonly budget: number,
    private readonly perEntry = 0,
  ) {}

  /** What `sealed` opened to for `field` of session `sid` with `bound`, when kept. */
  get(sealed: string, sid: string, field: string, bound: string): string | undefined {
    const hit = this.#entries.get(sealed);
    if (hit === undefined || hit.sid !== sid || hit.field !== field || hit.bound !== bound)
      return undefined;
    if (hit !== this.#newest) {
      this.unlink(hit);
      this.append(hit);
    }
    return hit.plain;
  }

  /** Whether a sealed value of `length` characters may be kept at all (see {@link remember}). */
  keeps(length: number): boolean {
    return length <= this.budget / 16;
  }

  /** Keeps what `sealed` opens to; a value over a sixteenth of the budget is not kept. */
  remember(sealed: string, sid: string, field: string, bound: string, plain: string): void {
    const size = sealed.length + plain.length + sid.length + bound.length + this.perEntry;
    if (size > this.budget / 16) return;
    const was = this.#entries.get(sealed);
    if (was !== undefined) this.drop(was);
    const entry: Opened = {
      sealed,
      sid,
      field,
      bound,
      plain,
      size,
      older: undefined,
      newer: undefined,
    };
    this.#entries.set(sealed, entry);
    this.append(entry);
    this.#size += size;
    // The least recently used first out: from the list's end, never a walk of the Map (whose
    // deleted slots, left at its front until it rehashes, made each eviction cost tens of µs).
    while (this.#size > this.budget && this.#oldest !== undefined) this.drop(this.#oldest);
  }

  private drop(entry: Opened): void {
    this.#entries.delete(entry.sealed);
    this.unlink(entry);
    this.#size -= entry.size;
  }

  private append(entry: Opened): void {
    entry.older = this.#newest;
    entry.newer = undefined;
    if (this.#newest === undefined) this.#oldest = entry;
    else this.#newest.newer = entry;
    this.#newest = entry;
  }

  private unlink(entry: Opened): void {
    if (entry.older === undefined) this.#oldest = entry.newer;
    else entry.older.newer = entry.newer;
    if (entry.newer === undefined) this.#newest = entry.older;
    else entry.newer.older = entry.older;
    entry.older = entry.newer = undefined;
  }
}
