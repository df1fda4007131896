/** One sealed value and what it opened to, with what it was opened for. */
interface Opened {
  sid: string;
  field: string;
  bound: string;
  plain: string;
  /** Its share of the budget: the characters it keeps alive. */
  size: number;
}

/**
 * The plaintext of the sealed values this process wrote or opened lately, by their sealed text,
 * so that a session read again is not decrypted again: a session is read on every request and
 * sealed again only when it changes, and under load each decryption costs tens of µs of CPU
 * (OpenSSL builds a cipher context for each one).
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
    // Most recently used last: Map iterates in insertion order.
    this.#entries.delete(sealed);
    this.#entries.set(sealed, hit);
    return hit.plain;
  }

  /** Keeps what `sealed` opens to; a value over a sixteenth of the budget is not kept. */
  remember(sealed: string, sid: string, field: string, bound: string, plain: string): void {
    const size = sealed.length + plain.length + sid.length + bound.length + this.perEntry;
    if (size > this.budget / 16) return;
    const was = this.#entries.get(sealed);
    if (was !== undefined) {
      this.#entries.delete(sealed);
      this.#size -= was.size;
    }
    this.#entries.set(sealed, { sid, field, bound, plain, size });
    this.#size += size;
    for (const [key, old] of this.#entries) {
      if (this.#size <= this.budget) break;
      this.#entries.delete(key);
      this.#size -= old.size;
    }
  }
}
