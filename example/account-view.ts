// The account pages' HTML: the sign-in form and the list of a user's devices.
import { escapeHtml, flashes, layout } from './html';
import { MAX_NAME } from './user';

/** One signed-in session, as the account page shows it (never its id). */
export interface Device {
  /** Whether this is the session of the request being answered. */
  current: boolean;
  expiresAt: Date;
  /** When it signed in, in ms since the epoch, if known. */
  signedInAt: number | undefined;
  /** Its browser's User-Agent at sign-in, if known. */
  device: string | undefined;
}

const back = '<nav><a href="/">Back to the counter</a></nav>';

/** `ms` as a short duration: "42 s", "5 min", "3 h", "2 days". */
function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  // Seconds up to two minutes: a one-minute session would otherwise read "1 min" or "59 s".
  if (s < 120) return `${s} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  if (s < 48 * 3600) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} days`;
}

/** A `<time>` for `at`, relative to `now`, with the absolute UTC time beside it. */
function when(at: Date, now: number): string {
  const iso = at.toISOString();
  const rel = at.getTime() >= now ? `in ${duration(at.getTime() - now)}` : 'now';
  return `<time datetime="${iso}" title="${iso}">${rel}</time> <span class="muted at">(${iso.slice(0, 19).replace('T', ' ')} UTC)</span>`;
}

function deviceItem(d: Device, now: number): string {
  const name = d.current
    ? '<strong>This device</strong> <span class="badge">you are here</span>'
    : '<strong>Another device</strong>';
  const ua = d.device === undefined ? '' : `<div class="muted">${escapeHtml(d.device)}</div>`;
  const ago = d.signedInAt === undefined ? undefined : now - d.signedInAt;
  const since =
    ago === undefined ? '' : `Signed in ${ago < 60_000 ? 'just now' : `${duration(ago)} ago`} · `;
  return `<li class="${d.current ? 'session current' : 'session'}">
<div>${name}</div>
${ua}
<div>${since}expires ${when(d.expiresAt, now)}</div>
</li>`;
}

/** The page at `/account`: who is signed in, their devices (this one first), and sign-outs. */
export function accountPage(user: string, devices: Device[], info: string[], now: number): string {
  const others = devices.filter((d) => !d.current).length;
  const count = devices.length === 1 ? '1 session' : `${devices.length} sessions`;
  const signOutOthers =
    others === 0
      ? '<p class="muted">No other device is signed in with this name.</p>'
      : `<form method="post" action="/account/sign-out-others" class="inline"><button type="submit">Sign out other devices</button></form>`;
  return layout({
    title: 'Your devices - connect-mongoose-session demo',
    body: `<h1>Your devices</h1>
${flashes(info)}
<p>Signed in as <strong id="user">${escapeHtml(user)}</strong>: ${count}.</p>
<ul class="sessions">
${devices.map((d) => deviceItem(d, now)).join('\n')}
</ul>
${signOutOthers}
<form method="post" action="/sign-out" class="inline"><button type="submit" class="secondary">Sign out</button></form>
${back}`,
  });
}

/** The page at `/sign-in`: a name, no password. */
export function signInPage(errors: string[]): string {
  return layout({
    title: 'Sign in - connect-mongoose-session demo',
    body: `<h1>Sign in</h1>
${flashes(errors, 'error')}
<p class="muted">A demo: no password, any name will do. Sign in with the same name in a second
browser to see both devices on your account page.</p>
<form method="post" action="/sign-in">
<p><label for="name">Name</label><br>
<input type="text" id="name" name="name" required maxlength="${MAX_NAME}" autocomplete="username" autofocus></p>
<p><button type="submit">Sign in</button></p>
</form>
${back}`,
  });
}
