// The account pages' HTML: the sign-in form and the list of a user's devices.
import { escapeHtml, flashes, layout } from './html';
import { timeTag } from './relative-time';
import { MAX_NAME } from './user';
import type { BrowserLabel } from './user-agent';

/** One signed-in session, as the devices page shows it (never its id). */
export interface Device {
  /** Whether this is the session of the request being answered. */
  current: boolean;
  /** The store's handle for it: what the "Sign out" button posts. */
  handle: string;
  /** Its browser and OS, parsed from the user agent the store recorded. */
  browser: BrowserLabel;
  /** The IP the store recorded, if any. */
  ip: string | undefined;
  /** When it signed in, if known. */
  signedInAt: Date | undefined;
  /** When the store last wrote it (within `touchAfter`), if known. */
  lastSeenAt: Date | undefined;
  expiresAt: Date;
}

const back = '<nav><a href="/">Back to the counter</a></nav>';

const KINDS: Record<string, string> = {
  desktop: 'Computer',
  mobile: 'Phone',
  tablet: 'Tablet',
  tv: 'TV',
  bot: 'Bot',
};

/** "Signed in 3 days ago · last seen 5 minutes ago", with what is known. */
function seen(d: Device, now: number): string {
  const parts: string[] = [];
  if (d.signedInAt !== undefined) parts.push(`Signed in ${timeTag(d.signedInAt, now)}`);
  if (d.lastSeenAt !== undefined) {
    const verb = parts.length === 0 ? 'Last seen' : 'last seen';
    parts.push(`${verb} ${d.current ? 'now' : timeTag(d.lastSeenAt, now)}`);
  }
  return parts.length === 0 ? '' : `<div class="seen">${parts.join(' · ')}</div>`;
}

function deviceItem(d: Device, now: number): string {
  const name = escapeHtml(d.browser.name);
  const badge = d.current ? ' <span class="badge">This device</span>' : '';
  const where = [
    d.browser.kind === undefined ? undefined : (KINDS[d.browser.kind] ?? d.browser.kind),
    d.ip === undefined ? undefined : `IP <span class="ip">${escapeHtml(d.ip)}</span>`,
  ].filter((s) => s !== undefined);
  const signOut = d.current
    ? ''
    : `<form method="post" action="/account/devices/sign-out" class="inline">
<input type="hidden" name="handle" value="${escapeHtml(d.handle)}">
<button type="submit" class="secondary" aria-label="Sign out ${name}">Sign out</button></form>`;
  return `<li class="${d.current ? 'session current' : 'session'}">
<div class="device"><strong class="browser">${name}</strong>${badge}</div>
${where.length === 0 ? '' : `<div class="muted">${where.join(' · ')}</div>`}
${seen(d, now)}
<div class="muted">Expires ${timeTag(d.expiresAt, now)} unless used</div>
${signOut}
</li>`;
}

/** The page at `/account`: who is signed in, their devices (this one first), and sign-outs. */
export function accountPage(user: string, devices: Device[], info: string[], now: number): string {
  const others = devices.filter((d) => !d.current).length;
  const count = devices.length === 1 ? '1 device' : `${devices.length} devices`;
  const signOutOthers =
    others === 0
      ? '<p class="muted">No other device is signed in with this name.</p>'
      : `<form method="post" action="/account/sign-out-others" class="inline"><button type="submit">Sign out all other devices</button></form>`;
  return layout({
    title: 'Your devices - connect-mongoose-session demo',
    body: `<h1>Your devices</h1>
${flashes(info)}
<p>Signed in as <strong id="user">${escapeHtml(user)}</strong> on ${count}.</p>
<ul class="sessions">
${devices.map((d) => deviceItem(d, now)).join('\n')}
</ul>
<div class="actions">
${signOutOthers}
<form method="post" action="/sign-out" class="inline"><button type="submit" class="secondary">Sign out of this device</button></form>
</div>
${back}`,
  });
}

/** The page at `/sign-in`: a name, no password. */
export function signInPage(info: string[], errors: string[]): string {
  return layout({
    title: 'Sign in - connect-mongoose-session demo',
    body: `<h1>Sign in</h1>
${flashes(info, 'notice')}
${flashes(errors, 'error')}
<p class="muted">A demo: no password, any name will do. Sign in with the same name in a second
browser to see both devices on your devices page.</p>
<form method="post" action="/sign-in">
<p><label for="name">Name</label><br>
<input type="text" id="name" name="name" required maxlength="${MAX_NAME}" autocomplete="username" autofocus></p>
<p><button type="submit">Sign in</button></p>
</form>
${back}`,
  });
}
