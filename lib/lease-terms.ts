import type { mongo } from 'mongoose';

/**
 * One term of the sweep lease, as stored in the lease collection (see {@link leaseName}).
 * Terms are only ever inserted, never updated: the newest one says who holds the lease.
 */
export interface LeaseTerm {
  /** The term's number: 1, 2, 3… Each is taken by the one insert that wins its `_id`. */
  _id: number;
  /** The instance that took the term (random per store), or `null` for one that gives it up. */
  holder: string | null;
  /** How long the term lasts, in milliseconds, counted by whoever watches it on its own clock. */
  term: number;
  /** When it was taken, by the taker's clock: for people reading the collection, never compared. */
  takenAt: Date;
}

/** The lease collection of the sessions collection `collection`. */
export function leaseName(collection: string): string {
  return `${collection}.lease`;
}

/**
 * The highest term number: a renewal a millisecond would take 140,000 years to reach it, and
 * up to it `n + 1` is exact in doubles (at 2^53 it equals `n`, and the chain would jam).
 */
export const LAST_TERM = 2 ** 52;
/** The longest term, in milliseconds: the longest delay a Node.js timer takes. */
const LONGEST_TERM = 2 ** 31 - 1;
/** Stray documents an instance remembers having reported; past that, it only logs. */
export const REPORTED_MAX = 100;
/** The holder of a stray document that sits where a term would: nobody's name. */
export const NOBODY = '';

/** Whether `id` can number a term: a whole number from 1 to {@link LAST_TERM}. */
export function isTermNumber(id: unknown): id is number {
  return typeof id === 'number' && Number.isInteger(id) && id >= 1 && id <= LAST_TERM;
}

/** What is wrong with the holder and term of `doc`, in words; `undefined` when nothing is. */
export function flawOf(doc: mongo.Document): string | undefined {
  if (doc.holder !== null && typeof doc.holder !== 'string')
    return 'its holder is neither a string nor null';
  const term: unknown = doc.term;
  if (typeof term !== 'number' || !Number.isFinite(term) || term < 0 || term > LONGEST_TERM)
    return `its term is not a number of milliseconds from 0 to ${LONGEST_TERM}`;
  return undefined;
}

export const BAD_NUMBER = 'its _id is not a whole number from 1 to 2^52';
