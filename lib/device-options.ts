import type { MetadataOption } from './devices.js';
import { typeError } from './errors.js';
import { MAX_TTL } from './expiry.js';

/** The options of devices and lifetimes, as the store reads them. */
export interface DeviceOptions {
  /** What to record of each device; `undefined` when nothing is. */
  metadata: Required<MetadataOption> | undefined;
  /** The absolute lifetime in milliseconds; `undefined` when off. */
  maxLifetime: number | undefined;
  /** The most live sessions a user may have; `undefined` when off. */
  maxSessionsPerUser: number | undefined;
}

/** The most sessions per user the cap accepts: a cap above it is no cap. */
const MAX_CAP = 1_000_000;

/** Validates `metadata`, `maxLifetime` and `maxSessionsPerUser`. */
export function resolveDeviceOptions(given: {
  metadata?: unknown;
  maxLifetime?: unknown;
  maxSessionsPerUser?: unknown;
}): DeviceOptions {
  const { metadata, maxLifetime, maxSessionsPerUser } = given;
  let meta: DeviceOptions['metadata'];
  if (metadata !== undefined) {
    if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata))
      throw typeError('metadata: expected { ip?: boolean, userAgent?: boolean }');
    const { ip = false, userAgent = false, ...rest } = metadata as Record<string, unknown>;
    const unknown = Object.keys(rest)[0];
    if (unknown !== undefined)
      throw typeError(`metadata: unknown field ${JSON.stringify(unknown)}; expected ip, userAgent`);
    if (typeof ip !== 'boolean' || typeof userAgent !== 'boolean')
      throw typeError('metadata: ip and userAgent must be booleans');
    meta = ip || userAgent ? { ip, userAgent } : undefined;
  }
  if (
    maxLifetime !== undefined &&
    (typeof maxLifetime !== 'number' ||
      !Number.isFinite(maxLifetime) ||
      maxLifetime < 1 ||
      maxLifetime > MAX_TTL)
  )
    throw typeError(
      `maxLifetime: expected milliseconds from 1 to ${MAX_TTL}, got ${String(maxLifetime)}`,
    );
  if (
    maxSessionsPerUser !== undefined &&
    (typeof maxSessionsPerUser !== 'number' ||
      !Number.isInteger(maxSessionsPerUser) ||
      maxSessionsPerUser < 1 ||
      maxSessionsPerUser > MAX_CAP)
  )
    throw typeError(
      `maxSessionsPerUser: expected a whole number from 1 to ${MAX_CAP}, got ${String(maxSessionsPerUser)}`,
    );
  return {
    metadata: meta,
    maxLifetime: maxLifetime as number | undefined,
    maxSessionsPerUser: maxSessionsPerUser as number | undefined,
  };
}
