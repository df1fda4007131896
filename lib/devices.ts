import { createHash } from 'node:crypto';
import type { SessionData } from 'express-session';

/** The `metadata` option: what the store records about the device that uses a session. */
export interface MetadataOption {
  /** Record the client's IP (`req.ip`, so express's `trust proxy` applies). Default `false`. */
  ip?: boolean;
  /** Record the `User-Agent` header, cut to {@link MAX_USER_AGENT} characters. Default `false`. */
  userAgent?: boolean;
}

/** What is recorded of a device: each field only when the `metadata` option asks for it. */
export interface DeviceMeta {
  /** The client's IP address, as express gives it in `req.ip`. */
  ip?: string;
  /** The `User-Agent` header. */
  userAgent?: string;
}

/** The longest user agent kept, in UTF-16 code units: a longer one is cut, not refused. */
export const MAX_USER_AGENT = 512;
/** The longest IP kept, in characters: an IPv6 address with a zone fits. */
const MAX_IP = 64;

/** The request express-session attaches to its sessions, non-enumerable; what is read of it. */
interface SessionRequest {
  ip?: unknown;
  socket?: { remoteAddress?: unknown };
  headers?: Record<string, unknown>;
}

/** `text` cut to `max` code units, never through the middle of a surrogate pair. */
function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  const end = /[\uD800-\uDBFF]/.test(text[max - 1] as string) ? max - 1 : max;
  return text.slice(0, end);
}

/**
 * The device of the request that holds `session` (express-session's `Session` carries its
 * `req`), as `option` asks; `undefined` when nothing is asked or the session has no request.
 */
export function deviceOf(session: SessionData, option: MetadataOption): DeviceMeta | undefined {
  if (option.ip !== true && option.userAgent !== true) return undefined;
  const req = (session as unknown as { req?: SessionRequest }).req;
  if (req === undefined || req === null || typeof req !== 'object') return undefined;
  const device: DeviceMeta = {};
  if (option.ip === true) {
    const ip = typeof req.ip === 'string' ? req.ip : req.socket?.remoteAddress;
    if (typeof ip === 'string' && ip !== '') device.ip = cut(ip, MAX_IP);
  }
  if (option.userAgent === true) {
    const ua = req.headers?.['user-agent'];
    if (typeof ua === 'string' && ua !== '') device.userAgent = cut(ua, MAX_USER_AGENT);
  }
  return device.ip === undefined && device.userAgent === undefined ? undefined : device;
}

/** Whether two recorded devices are the same. */
export function sameDevice(a: DeviceMeta | undefined, b: DeviceMeta | undefined): boolean {
  return a?.ip === b?.ip && a?.userAgent === b?.userAgent;
}

/** A stored device value read back: only its two string fields, whatever else it holds. */
export function readDevice(value: unknown): DeviceMeta | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const { ip, userAgent } = value as Record<string, unknown>;
  const device: DeviceMeta = {};
  if (typeof ip === 'string') device.ip = ip;
  if (typeof userAgent === 'string') device.userAgent = userAgent;
  return device;
}

/**
 * The handle of a session: a name for it that a page may render and a form may send back,
 * the same for the session's whole life, which cannot be turned back into its id (a one-way
 * hash of it), so it is no cookie.
 */
export function handleOf(sid: string): string {
  return createHash('sha256')
    .update(`connect-mongoose-session handle\0${sid}`)
    .digest('base64url')
    .slice(0, 22);
}
