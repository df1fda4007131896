export type { SessionData } from 'express-session';
export type { Callback } from './callback.js';
export type { SecretFormat } from './cipher.js';
export { createStore } from './create-store.js';
export type { DeviceMeta, MetadataOption } from './devices.js';
export { MongooseStoreError, type MongooseStoreErrorCode } from './errors.js';
export type { MongooseStoreEvents } from './events.js';
export type { Ttl } from './expiry.js';
export {
  DEFAULT_TTL,
  FALLBACK_LIFECHECK,
  type MongooseStoreOptions,
  type MongooseStoreUris,
} from './options.js';
export { type SessionDocument, sessionSchema } from './schema.js';
export { bsonSerializer, jsonSerializer, type SessionSerializer } from './serializer.js';
export type { StoreStats } from './stats.js';
export { MongooseStore } from './store.js';
export { OPERATION_CHANNEL, type OperationContext, type TracedOperation } from './tracing.js';
export type { UserSession } from './user-sessions.js';
export { type DestroyByUserOptions, passportUser, type UserIdOf } from './users.js';
