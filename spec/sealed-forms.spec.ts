import { mongo } from 'mongoose';
import { SessionCipher } from '../lib/cipher';
import { holds, type SessionDocument } from '../lib/document';
import { OpenedValues } from '../lib/opened-values';

// The two stored forms of a sealed value (BSON binary, and 1.0.0-rc.1's text), as values a
// database writer may plant: each is read only in its own shape.
const SECRET = 'a secret of thirty-two characters or more, for forms';
const SID = 'session-id-0123456789abcdef';
const bytesOf = (v: unknown) => {
  const b = v as mongo.Binary;
  return Buffer.from(b.buffer.subarray(0, b.position));
};
const decryptFailure = { code: 'ERR_SESSION_DECRYPT' };

describe('sealed values in either form', () => {
  it('a binary value’s bytes, planted as text, are refused, even while its plaintext is kept', () => {
    const cipher = new SessionCipher([SECRET]);
    const sealed = cipher.seal(SID, 'session', '{"role":"admin"}');
    expect(cipher.open(SID, 'session', sealed)).toBe('{"role":"admin"}');
    const asText = bytesOf(sealed).toString('latin1');
    expect(() => cipher.open(SID, 'session', asText)).toThrow(
      expect.objectContaining(decryptFailure),
    );
  });

  it('a text value’s characters, planted as binary, are refused, even while its plaintext is kept', () => {
    const cipher = new SessionCipher([SECRET], 'text');
    const sealed = cipher.seal(SID, 'session', '{"role":"admin"}') as string;
    expect(cipher.open(SID, 'session', sealed)).toBe('{"role":"admin"}');
    const asBinary = new mongo.Binary(Buffer.from(sealed, 'latin1'), 0);
    expect(() => cipher.open(SID, 'session', asBinary)).toThrow(
      expect.objectContaining(decryptFailure),
    );
  });

  it.each([
    ['an object that only says it is a Binary', { _bsontype: 'Binary', sub_type: 0, position: 40 }],
    [
      'one with a buffer that is no buffer',
      { _bsontype: 'Binary', sub_type: 0, position: 9, buffer: {} },
    ],
    ['a number', 7],
    ['null', null],
  ])('%s reads as not sealed, with a typed error, never a TypeError', (_what, planted) => {
    const cipher = new SessionCipher([SECRET]);
    expect(() => cipher.open(SID, 'cookie', planted)).toThrow(
      expect.objectContaining(decryptFailure),
    );
    expect(cipher.current(planted)).toBe(false);
  });

  it('reads a value the driver gives back as a Buffer (promoteBuffers), and counts it current', () => {
    const cipher = new SessionCipher([SECRET]);
    const sealed = cipher.seal(SID, 'cookie', '{"path":"/"}');
    const promoted = bytesOf(sealed);
    expect(new SessionCipher([SECRET]).open(SID, 'cookie', promoted)).toBe('{"path":"/"}');
    expect(cipher.current(promoted)).toBe(true);
  });

  it('counts text stale when writing binary, and binary current when writing text', () => {
    const text = new SessionCipher([SECRET], 'text');
    const binary = new SessionCipher([SECRET], 'binary');
    const t = text.seal(SID, 'cookie', '{}');
    const b = binary.seal(SID, 'cookie', '{}');
    expect([binary.current(t), binary.current(b)]).toEqual([false, true]);
    expect([text.current(t), text.current(b)]).toEqual([true, true]);
    // Under an older secret: stale in either form.
    const rotated = new SessionCipher([`new ${SECRET}`, SECRET], 'text');
    expect([rotated.current(t), rotated.current(b)]).toEqual([false, false]);
  });

  it('a guarded write finds a binary value it read, whatever buffer holds its bytes', () => {
    const cipher = new SessionCipher([SECRET]);
    const sealed = cipher.seal(SID, 'session', '{"n":1}') as mongo.Binary;
    // Read back, the driver's Binary is a view at some offset of a larger buffer.
    const read = (v: mongo.Binary) =>
      mongo.BSON.deserialize(mongo.BSON.serialize({ v })).v as mongo.Binary;
    const doc = { _id: SID, session: read(sealed), expiresAt: new Date() } as SessionDocument;
    expect(holds(doc, { session: read(sealed) })).toBe(true);
    expect(holds(doc, { session: bytesOf(sealed) })).toBe(true);
    const other = cipher.seal(SID, 'session', '{"n":1}');
    expect(holds(doc, { session: other })).toBe(false);
    expect(holds(doc, { session: new mongo.Binary(bytesOf(sealed), 5) })).toBe(false);
    expect(holds(doc, { session: bytesOf(sealed).toString('latin1') })).toBe(false);
  });
});

describe('opened values, as a list', () => {
  // Each entry: 40 + 50 + 10 characters; the budget holds 16 of them.
  const key = (i: number) => `sealed-${i}`.padEnd(40, '.');
  const plain = (i: number) => `plain-${i}`.padEnd(50, '.');
  const SID = 'session-01';

  it('a value kept again moves to the most recent end, counted once', () => {
    const kept = new OpenedValues(1_600);
    for (let i = 1; i <= 16; i++) kept.remember(key(i), SID, 'f', '', plain(i));
    kept.remember(key(8), SID, 'f', '', plain(8));
    kept.remember(key(17), SID, 'f', '', plain(17));
    expect(kept.get(key(1), SID, 'f', '')).toBeUndefined();
    // Seven more push out 2 to 7 and 9: the one kept again outlives those kept after it.
    for (let i = 18; i <= 24; i++) kept.remember(key(i), SID, 'f', '', plain(i));
    for (const i of [2, 7, 9]) expect(kept.get(key(i), SID, 'f', '')).toBeUndefined();
    for (const i of [8, 10, 16, 24]) expect(kept.get(key(i), SID, 'f', '')).toBe(plain(i));
  });

  it('holds exactly its budget through 1,000 values, used at both ends and in the middle', () => {
    const kept = new OpenedValues(1_600);
    for (let i = 0; i < 1_000; i++) {
      kept.remember(key(i), SID, 'f', '', plain(i));
      for (const back of [1, 7, 15]) kept.get(key(i - back), SID, 'f', '');
      expect(kept.get(key(i), SID, 'f', '')).toBe(plain(i));
    }
    let found = 0;
    for (let i = 0; i < 1_000; i++) if (kept.get(key(i), SID, 'f', '') !== undefined) found++;
    expect(found).toBe(16);
  });
});
