import { OpenedValues } from '../lib/opened-values';

// What a process keeps of the sealed values it wrote or opened (under `secret`), so that a
// session read again is not decrypted again.
describe('opened values', () => {
  it('gives a value back only for the session, field and bound data it was kept for', () => {
    const kept = new OpenedValues(10_000);
    kept.remember('tag.sealed', 'sid-a', 'session', 'user-hash', '{"n":1}');
    expect(kept.get('tag.sealed', 'sid-a', 'session', 'user-hash')).toBe('{"n":1}');
    // Copied to another session, another field, or beside another user: decrypted, and refused.
    expect(kept.get('tag.sealed', 'sid-b', 'session', 'user-hash')).toBeUndefined();
    expect(kept.get('tag.sealed', 'sid-a', 'cookie', 'user-hash')).toBeUndefined();
    expect(kept.get('tag.sealed', 'sid-a', 'session', '')).toBeUndefined();
    expect(kept.get('tag.other', 'sid-a', 'session', 'user-hash')).toBeUndefined();
  });

  it('keeps at most its budget of characters, the least recently used first out', () => {
    // Each entry: 40 + 50 + 10 characters; the budget holds 16 of them.
    const kept = new OpenedValues(1_600);
    const sealed = (i: number) => `sealed-${i}`.padEnd(40, '.');
    const plain = (i: number) => `plain-${i}`.padEnd(50, '.');
    const sid = 'session-01';
    for (let i = 1; i <= 16; i++) kept.remember(sealed(i), sid, 'f', '', plain(i));
    // Used again: now the most recent.
    expect(kept.get(sealed(1), sid, 'f', '')).toBe(plain(1));
    kept.remember(sealed(17), sid, 'f', '', plain(17));
    expect(kept.get(sealed(2), sid, 'f', '')).toBeUndefined();
    for (const i of [1, 3, 16, 17]) expect(kept.get(sealed(i), sid, 'f', '')).toBe(plain(i));
  });

  it('keeps no value over a sixteenth of its budget, and forgets none for it', () => {
    const kept = new OpenedValues(1_600);
    kept.remember('small', 'sid', 'f', '', 'x');
    kept.remember('large', 'sid', 'f', '', 'y'.repeat(100));
    expect(kept.get('large', 'sid', 'f', '')).toBeUndefined();
    expect(kept.get('small', 'sid', 'f', '')).toBe('x');
  });

  it('counts a value kept twice once', () => {
    const kept = new OpenedValues(1_600);
    const sid = 'session-01';
    const first = 'first'.padEnd(40, '.');
    for (let i = 0; i < 20; i++) kept.remember(first, sid, 'f', '', 'p'.repeat(50));
    // 15 more of 100 characters: 16 in all, within the budget only if the first counts once.
    for (let i = 1; i <= 15; i++)
      kept.remember(`other-${i}`.padEnd(40, '.'), sid, 'f', '', 'q'.repeat(50));
    expect(kept.get(first, sid, 'f', '')).toBe('p'.repeat(50));
  });
});
