import type { SessionData } from 'express-session';
import { expiryOf } from '../lib/expiry';

const NOW = Date.UTC(2026, 10, 25, 12, 0, 0);
const session = (cookie: Record<string, unknown>) => ({ cookie }) as unknown as SessionData;

describe('expiryOf', () => {
  it('uses the cookie expiry when the cookie has one', () => {
    const at = new Date(NOW + 5_000);
    expect(expiryOf(session({ expires: at }), 1_000, NOW)).toBe(at.getTime());
  });

  it('accepts the cookie expiry as an ISO string, as a JSON round trip leaves it', () => {
    expect(expiryOf(session({ expires: new Date(NOW + 5_000).toISOString() }), 1_000, NOW)).toBe(
      NOW + 5_000,
    );
  });

  it('falls back to now + ttl for a browser-session cookie', () => {
    expect(expiryOf(session({ expires: null }), 1_000, NOW)).toBe(NOW + 1_000);
  });

  it('falls back to now + ttl when the cookie expiry is not a date', () => {
    expect(expiryOf(session({ expires: 'soon' }), 1_000, NOW)).toBe(NOW + 1_000);
  });

  it('asks a ttl function, giving it the session', () => {
    const s = { ...session({}), plan: 'pro' } as SessionData;
    expect(
      expiryOf(s, (x) => ((x as unknown as { plan: string }).plan === 'pro' ? 9_000 : 1), NOW),
    ).toBe(NOW + 9_000);
  });
});
