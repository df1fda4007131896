import { mongo } from 'mongoose';

/**
 * The bytes of a sealed value stored as BSON binary (subtype 0):
 * `1 | key tag (6 ASCII bytes) | nonce | iv | ciphertext | auth tag`. `undefined` for text.
 */
export function binaryBytes(v: unknown): Buffer | undefined {
  return v instanceof mongo.Binary && v.sub_type === 0
    ? Buffer.from(v.buffer.subarray(0, v.position))
    : undefined;
}

/** The key tag a sealed value starts with, in either form (text: `<tag>.<base64url>`). */
export function tagOf(v: unknown): string | undefined {
  return typeof v === 'string' ? v.split('.')[0] : binaryBytes(v)?.toString('latin1', 1, 7);
}

/** A sealed value's bytes after its key tag (nonce | iv | ciphertext | auth tag), in either form. */
export function bodyOf(v: unknown): Buffer {
  return typeof v === 'string'
    ? Buffer.from(v.split('.')[1] as string, 'base64url')
    : (binaryBytes(v) as Buffer).subarray(7);
}
