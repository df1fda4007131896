import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createSecretKey,
  hkdfSync,
  type KeyObject,
  randomBytes,
  randomFillSync,
} from 'node:crypto';
import mongoose from 'mongoose';

import { binaryBytes } from './bson-values.js';
import { MongooseStoreError, sidTag, typeError } from './errors.js';
import { LONE_SURROGATE } from './ids.js';
import { OpenedValues } from './opened-values.js';

/** The shortest `secret` accepted, in characters. */
export const MIN_SECRET_LENGTH = 32;

/** Fixed HKDF salt: the secrets carry the entropy; the salt only separates this use of them. */
const SALT = 'connect-mongoose-session/v1';
/** Random bytes from which a batch of values' key is derived. */
const NONCE_BYTES = 16;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const HEADER = NONCE_BYTES + IV_BYTES;
/**
 * `<key tag>.<base64url of nonce | iv | ciphertext | auth tag>`; the key tag is 6 base64url
 * characters.
 */
const SEALED = /^([A-Za-z0-9_-]{6})\.([A-Za-z0-9_-]+)$/;
/**
 * The first byte of a sealed value stored as BSON binary (subtype 0): `1 | <key tag, 6 ASCII
 * bytes> | nonce | iv | ciphertext | auth tag`. A quarter smaller than the text (the whole
 * document about a sixth), with no base64.
 */
const BINARY_FORM = 1;
const BINARY_HEADER = 1 + 6;

/**
 * How sealed values are stored: `'binary'`, BSON binary; `'text'`, the base64url text that
 * 1.0.0-rc.1 wrote and reads. Both are read whichever is written.
 */
export type SecretFormat = 'binary' | 'text';

/** A BSON binary value as the driver gives it back, or as we build it. */
type BinaryValue = InstanceType<typeof mongoose.mongo.BSON.Binary>;

/** The keys one secret gives, all derived once, at construction. */
interface Keys {
  /** Names the key in each sealed value, so a read picks it without trying each. */
  tag: string;
  /** Derives each value's AES-256-GCM key from its nonce. */
  cipher: KeyObject;
  /** HMAC-SHA256 key for the `user` field. */
  user: KeyObject;
}

function derive(secret: string, info: string, bytes: number): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, SALT, info, bytes));
}

function keysOf(secret: string): Keys {
  return {
    tag: derive(secret, 'key tag', 6).toString('base64url').slice(0, 6),
    cipher: createSecretKey(derive(secret, 'aes-256-gcm key per value', 32)),
    user: createSecretKey(derive(secret, 'user hash', 32)),
  };
}

/** Values whose random IV is drawn at once: one call to the CSPRNG instead of 128. */
const POOL_VALUES = 128;
/**
 * Values sealed under one nonce's key before a fresh nonce is drawn: 2^20, so that no key
 * ever sees more than 2^20 random IVs (GCM's bound is about 2^32), while a write costs no
 * key derivation of its own.
 */
const VALUES_PER_NONCE = 2 ** 20;
/** Nonces whose derived key a read keeps: one per writing process and secret, in practice. */
const OPENED_NONCES = 256;
/**
 * Characters of sealed values and their plaintext kept, each value also counted as
 * {@link PER_VALUE_KEPT} more: about 4 MiB of memory for ASCII text (V8 keeps it one byte a
 * character), 8 MiB at most; some 2,300 sessions of 1,000 characters, the sessions a busy
 * process reads again within seconds.
 */
const PLAIN_KEPT = 1 << 22;
/**
 * What V8 keeps for each kept value beside its text, in bytes, counted as that many characters
 * of {@link PLAIN_KEPT}: measured on Node 20 x64 at about 370-470 (the Map's slots, the entry
 * object, the strings' headers). Uncounted, the smallest values (an empty session's `{}`) took
 * 9 MiB.
 */
const PER_VALUE_KEPT = 400;
/** User hashes kept, by user id: the same few users write again and again. */
const USER_HASHES = 1_000;

/** The secrets the option gives, newest first, checked: a copy, the caller's array untouched. */
export function secretsOf(secret: unknown): string[] {
  const list: unknown[] = Array.isArray(secret) ? [...secret] : [secret];
  if (list.length === 0) throw typeError('secret: expected a string or a non-empty array of them');
  for (const s of list) {
    if (typeof s !== 'string')
      throw typeError(`secret: expected a string or an array of strings, got ${typeof s}`);
    if (s.length < MIN_SECRET_LENGTH)
      throw typeError(
        `secret: each secret needs at least ${MIN_SECRET_LENGTH} characters, got one of ${s.length}`,
      );
    // Every lone surrogate becomes U+FFFD in UTF-8: two such secrets would be one key.
    if (LONE_SURROGATE.test(s))
      throw typeError('secret: must be well-formed UTF-16 (it holds a lone surrogate)');
  }
  return list as string[];
}

const EMPTY = Buffer.alloc(0);

/** The error for a stored value that is neither form of a sealed value. */
function notSealed(sid: string): MongooseStoreError {
  return decryptError(sid, 'it is not encrypted, or not in this store’s format');
}

/** The error for a value of session `sid` that does not open: tagged, never the id itself. */
function decryptError(sid: string, why: string): MongooseStoreError {
  return new MongooseStoreError(
    'ERR_SESSION_DECRYPT',
    `stored session ${sidTag(sid)} could not be decrypted (${why}); it is treated as missing`,
  );
}

/**
 * Authenticated encryption of the stored session fields: AES-256-GCM, under a key derived
 * from a random 128-bit nonce (HMAC-SHA256 under the secret's key), with a fresh random IV per
 * value. A nonce serves {@link VALUES_PER_NONCE} values, then a new one is drawn: no key sees
 * more than 2^20 IVs, well inside GCM's limit of about 2^32 random IVs per key, which a busy
 * store would reach in weeks under one key. Each value carries its nonce, so a read derives
 * (and keeps) the key of each nonce once. The session id, the field name and what `bound` adds (the
 * user hash, for the cookie) are additional authenticated data, so a value copied to another
 * session or field, or left beside another user hash, does not decrypt. The first secret
 * encrypts; every secret decrypts (rotation).
 */
export class SessionCipher {
  // ECMAScript private fields: util.inspect (console.log of the store) shows none of them.
  readonly #keys: Keys[];
  readonly #byTag = new Map<string, Keys>();
  readonly #random = Buffer.alloc(IV_BYTES * POOL_VALUES);
  #used = IV_BYTES * POOL_VALUES;
  readonly #hashes = new Map<string, string>();
  /** The nonce writes use now, its key, and how many more values it may seal. */
  #nonce: Buffer = Buffer.alloc(0);
  #nonceKey: Buffer = Buffer.alloc(0);
  #nonceLeft = 0;
  /** Derived keys by key tag and nonce: a read derives each nonce's key once. */
  readonly #opened = new Map<string, Buffer>();
  /** What values written or read lately hold: a session read again is not decrypted again. */
  readonly #plain = new OpenedValues(PLAIN_KEPT, PER_VALUE_KEPT);
  /** How {@link seal} stores values. */
  readonly #format: SecretFormat;

  /**
   * @param secrets - newest first; see {@link secretsOf}.
   * @param format - how {@link seal} stores values. Default: `'binary'`.
   */
  constructor(secrets: readonly string[], format: SecretFormat = 'binary') {
    this.#format = format;
    // A secret given twice is one key: keep its first place.
    this.#keys = [...new Set(secrets)].map(keysOf);
    for (const k of this.#keys) {
      // One chance in 2^36 per pair; a read would then try the wrong key and fail.
      if (this.#byTag.has(k.tag))
        throw typeError('secret: two of the secrets give the same key tag; replace one of them');
      this.#byTag.set(k.tag, k);
    }
  }

  /**
   * `plain`, encrypted with the newest key for `field` of session `sid`: BSON binary, or text,
   * as the format says.
   * @param bound - more data to authenticate with it (not stored in it): `open` must be given
   *   the same. Default: none.
   */
  seal(sid: string, field: string, plain: string, bound = ''): BinaryValue | string {
    const key = this.#keys[0] as Keys;
    if (this.#nonceLeft === 0) this.nextNonce(key);
    this.#nonceLeft--;
    const iv = this.iv();
    const c = createCipheriv('aes-256-gcm', this.#nonceKey, iv);
    c.setAAD(aad(sid, field, bound));
    const text = this.#format === 'text';
    const head = text ? EMPTY : Buffer.from(`\u0001${key.tag}`, 'latin1');
    const body = Buffer.concat([
      head,
      this.#nonce,
      iv,
      c.update(plain, 'utf8'),
      c.final(),
      c.getAuthTag(),
    ]);
    const sealed = text
      ? `${key.tag}.${body.toString('base64url')}`
      : new mongoose.mongo.BSON.Binary(body, 0);
    // A value too large to be kept is not copied into a key; a lone surrogate would open as
    // U+FFFD: such a text is left to be opened.
    if (this.#plain.keeps(body.length) && !LONE_SURROGATE.test(plain))
      this.#plain.remember(
        text ? (sealed as string) : body.toString('latin1'),
        sid,
        field,
        bound,
        plain,
      );
    return sealed;
  }

  /**
   * The plain text of a sealed value of `field` of session `sid`, sealed with `bound`: either
   * form, whichever this cipher writes.
   * @throws MongooseStoreError `ERR_SESSION_DECRYPT` when it is not a sealed value, its key is
   *   not among the secrets, or it does not authenticate (changed, or copied from elsewhere).
   */
  open(sid: string, field: string, sealed: unknown, bound: unknown = ''): string {
    // What a value is bound to is read back one way only when the bound data hold no NUL (see
    // `aad`): a user field this store never writes, which a database writer would have put
    // there to move a value to the id that reads the same, is refused.
    if (typeof bound !== 'string' || bound.includes('\0'))
      throw decryptError(sid, 'its user field is not one this store writes');
    let id: string;
    let tag: string;
    let body: Buffer;
    const bytes = typeof sealed === 'string' ? undefined : binaryBytes(sealed);
    if (typeof sealed === 'string') {
      // Kept binary values are keyed by their bytes, which start with the form byte: a text
      // that does is no sealed text, and never stands for one of them.
      if (sealed.charCodeAt(0) === BINARY_FORM) throw notSealed(sid);
      const kept = this.#plain.get(sealed, sid, field, bound);
      if (kept !== undefined) return kept;
      const m = SEALED.exec(sealed);
      if (m === null) throw notSealed(sid);
      if (!canonical(m[2] as string)) throw decryptError(sid, 'it is not in this store’s format');
      id = sealed;
      tag = m[1] as string;
      body = Buffer.from(m[2] as string, 'base64url');
    } else if (bytes !== undefined) {
      if (bytes.length < BINARY_HEADER || bytes[0] !== BINARY_FORM) throw notSealed(sid);
      // A value too large to be kept is never looked up: no copy of it as a key.
      id = this.#plain.keeps(bytes.length) ? bytes.toString('latin1') : '';
      const kept = id === '' ? undefined : this.#plain.get(id, sid, field, bound);
      if (kept !== undefined) return kept;
      tag = bytes.toString('latin1', 1, BINARY_HEADER);
      body = bytes.subarray(BINARY_HEADER);
    } else {
      throw notSealed(sid);
    }
    const key = this.#byTag.get(tag);
    if (key === undefined) throw decryptError(sid, 'its key is not among the secrets');
    if (body.length < HEADER + TAG_BYTES) throw decryptError(sid, 'it is truncated');
    try {
      const d = createDecipheriv(
        'aes-256-gcm',
        this.openedKey(key, body.subarray(0, NONCE_BYTES)),
        body.subarray(NONCE_BYTES, HEADER),
      );
      d.setAAD(aad(sid, field, bound));
      d.setAuthTag(body.subarray(body.length - TAG_BYTES));
      const head = d.update(body.subarray(HEADER, body.length - TAG_BYTES));
      const plain = Buffer.concat([head, d.final()]).toString('utf8');
      if (id !== '') this.#plain.remember(id, sid, field, bound, plain);
      return plain;
    } catch {
      throw decryptError(sid, 'it does not authenticate: changed, or copied from another session');
    }
  }

  /**
   * Whether a sealed value is under the newest key, in the form this cipher writes (else the
   * next write, or `reencrypt()`, seals it again). Writing text, a binary value under the
   * newest key is current too: it reads, and a move back is no reason to rewrite it.
   */
  current(sealed: unknown): boolean {
    const tag = (this.#keys[0] as Keys).tag;
    const bytes = typeof sealed === 'string' ? undefined : binaryBytes(sealed);
    if (bytes !== undefined)
      return (
        bytes.length >= BINARY_HEADER &&
        bytes[0] === BINARY_FORM &&
        bytes.toString('latin1', 1, BINARY_HEADER) === tag
      );
    return this.#format === 'text' && typeof sealed === 'string' && sealed.startsWith(`${tag}.`);
  }

  /** The `user` field for `userId` under each secret, newest first: what queries look for. */
  userHashes(userId: string): string[] {
    return this.#keys.map((k) => createHmac('sha256', k.user).update(userId).digest('base64url'));
  }

  /** The `user` field for `userId` under the newest secret: what writes store. */
  userHash(userId: string): string {
    let hash = this.#hashes.get(userId);
    if (hash === undefined) {
      hash = createHmac('sha256', (this.#keys[0] as Keys).user)
        .update(userId)
        .digest('base64url');
      if (this.#hashes.size >= USER_HASHES) this.#hashes.clear();
      this.#hashes.set(userId, hash);
    }
    return hash;
  }

  /** A fresh random IV for one value, never handed out twice. */
  private iv(): Buffer {
    if (this.#used === this.#random.length) {
      randomFillSync(this.#random);
      this.#used = 0;
    }
    // Copied: the pool is refilled later, and the value must keep its own bytes.
    const iv = Buffer.from(this.#random.subarray(this.#used, this.#used + IV_BYTES));
    this.#used += IV_BYTES;
    return iv;
  }

  /** Draws the nonce the next {@link VALUES_PER_NONCE} values are sealed under. */
  private nextNonce(key: Keys): void {
    this.#nonce = randomBytes(NONCE_BYTES);
    this.#nonceKey = valueKey(key, this.#nonce);
    this.#nonceLeft = VALUES_PER_NONCE;
    this.remember(`${key.tag}${this.#nonce.toString('latin1')}`, this.#nonceKey);
  }

  /** The key of values sealed under `key` with `nonce`, derived once per nonce. */
  private openedKey(key: Keys, nonce: Buffer): Buffer {
    const id = `${key.tag}${nonce.toString('latin1')}`;
    let derived = this.#opened.get(id);
    if (derived === undefined) {
      derived = valueKey(key, nonce);
      this.remember(id, derived);
    }
    return derived;
  }

  private remember(id: string, derived: Buffer): void {
    // A flood of foreign nonces (values from many processes) only costs derivations again.
    if (this.#opened.size >= OPENED_NONCES) this.#opened.clear();
    this.#opened.set(id, derived);
  }
}

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * Whether `text` (base64url, unpadded) is the one spelling of its bytes: base64 can spell a
 * byte string several ways, through the spare low bits of its last character.
 */
function canonical(text: string): boolean {
  const rest = text.length % 4;
  if (rest === 0) return true;
  if (rest === 1) return false;
  const last = BASE64URL.indexOf(text[text.length - 1] as string);
  return (last & (rest === 2 ? 0b1111 : 0b11)) === 0;
}

/** The AES-256 key of the values sealed with `nonce`. */
function valueKey(key: Keys, nonce: Buffer): Buffer {
  return createHmac('sha256', key.cipher).update(nonce).digest();
}

function aad(sid: string, field: string, bound: string): Buffer {
  // Neither the field name nor a user hash (base64url) holds a NUL, so the three parts are
  // read back one way only, the id last, whatever it holds: `open` refuses bound data with a
  // NUL, which only a database writer could have given it.
  return Buffer.from(`${field}\0${bound}\0${sid}`, 'utf8');
}
