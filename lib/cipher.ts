import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createSecretKey,
  hkdfSync,
  type KeyObject,
  randomBytes,
} from 'node:crypto';
import { MongooseStoreError, typeError } from './errors.js';

/** The shortest `secret` accepted, in characters. */
export const MIN_SECRET_LENGTH = 32;

/** Fixed HKDF salt: the secrets carry the entropy; the salt only separates this use of them. */
const SALT = 'connect-mongoose-session/v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** `<key tag>.<base64url of iv | ciphertext | auth tag>`; the key tag is 6 base64url chars. */
const SEALED = /^([A-Za-z0-9_-]{6})\.([A-Za-z0-9_-]+)$/;

/** The keys one secret gives, all derived once, at construction. */
interface Keys {
  /** Names the key in each sealed value, so a read picks it without trying each. */
  tag: string;
  /** AES-256-GCM key for the cookie and the session data. */
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
    cipher: createSecretKey(derive(secret, 'aes-256-gcm', 32)),
    user: createSecretKey(derive(secret, 'user hash', 32)),
  };
}

/** The secrets the option gives, newest first, checked. */
export function secretsOf(secret: unknown): string[] {
  const list = Array.isArray(secret) ? secret : [secret];
  if (list.length === 0) throw typeError('secret: expected a string or a non-empty array of them');
  for (const s of list as unknown[]) {
    if (typeof s !== 'string')
      throw typeError(`secret: expected a string or an array of strings, got ${typeof s}`);
    if (s.length < MIN_SECRET_LENGTH)
      throw typeError(
        `secret: each secret needs at least ${MIN_SECRET_LENGTH} characters, got one of ${s.length}`,
      );
  }
  return list as string[];
}

function decryptError(why: string): MongooseStoreError {
  return new MongooseStoreError(
    'ERR_SESSION_DECRYPT',
    `a stored session could not be decrypted (${why}); it is treated as missing`,
  );
}

/**
 * Authenticated encryption of the stored session fields, AES-256-GCM with a fresh random IV
 * per value. The session id and the field name are additional authenticated data, so a value
 * copied to another session, or to the other field, does not decrypt. The first secret
 * encrypts; every secret decrypts (rotation).
 */
export class SessionCipher {
  private readonly keys: Keys[];
  private readonly byTag = new Map<string, Keys>();

  /** @param secrets - newest first; see {@link secretsOf}. */
  constructor(secrets: readonly string[]) {
    // A secret given twice is one key: keep its first place.
    this.keys = [...new Set(secrets)].map(keysOf);
    for (const k of this.keys) {
      // One chance in 2^36 per pair; a read would then try the wrong key and fail.
      if (this.byTag.has(k.tag))
        throw typeError('secret: two of the secrets give the same key tag; replace one of them');
      this.byTag.set(k.tag, k);
    }
  }

  /** `plain`, encrypted with the newest key for `field` of session `sid`. */
  seal(sid: string, field: string, plain: string): string {
    const key = this.keys[0] as Keys;
    const iv = randomBytes(IV_BYTES);
    const c = createCipheriv('aes-256-gcm', key.cipher, iv);
    c.setAAD(aad(sid, field));
    const body = Buffer.concat([iv, c.update(plain, 'utf8'), c.final(), c.getAuthTag()]);
    return `${key.tag}.${body.toString('base64url')}`;
  }

  /**
   * The plain text of a sealed value of `field` of session `sid`.
   * @throws MongooseStoreError `ERR_SESSION_DECRYPT` when it is not a sealed value, its key is
   *   not among the secrets, or it does not authenticate (changed, or copied from elsewhere).
   */
  open(sid: string, field: string, sealed: unknown): string {
    const m = typeof sealed === 'string' ? SEALED.exec(sealed) : null;
    if (m === null) throw decryptError('it is not encrypted, or not in this store’s format');
    const key = this.byTag.get(m[1] as string);
    if (key === undefined) throw decryptError('its key is not among the secrets');
    const body = Buffer.from(m[2] as string, 'base64url');
    if (body.length < IV_BYTES + TAG_BYTES) throw decryptError('it is truncated');
    try {
      const d = createDecipheriv('aes-256-gcm', key.cipher, body.subarray(0, IV_BYTES));
      d.setAAD(aad(sid, field));
      d.setAuthTag(body.subarray(body.length - TAG_BYTES));
      const plain = d.update(body.subarray(IV_BYTES, body.length - TAG_BYTES));
      return Buffer.concat([plain, d.final()]).toString('utf8');
    } catch {
      throw decryptError('it does not authenticate: changed, or copied from another session');
    }
  }

  /** Whether a sealed value is under the newest key (else the next write re-encrypts it). */
  current(sealed: unknown): boolean {
    return typeof sealed === 'string' && sealed.startsWith(`${(this.keys[0] as Keys).tag}.`);
  }

  /** The `user` field for `userId` under each secret, newest first: what queries look for. */
  userHashes(userId: string): string[] {
    return this.keys.map((k) => createHmac('sha256', k.user).update(userId).digest('base64url'));
  }

  /** The `user` field for `userId` under the newest secret: what writes store. */
  userHash(userId: string): string {
    return createHmac('sha256', (this.keys[0] as Keys).user)
      .update(userId)
      .digest('base64url');
  }
}

function aad(sid: string, field: string): Buffer {
  // The field name has no NUL, so `field \0 sid` names one (field, session) pair only.
  return Buffer.from(`${field}\0${sid}`, 'utf8');
}
