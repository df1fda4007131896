// "3 days ago", "in 5 minutes": Intl.RelativeTimeFormat, in the largest unit that fits.

const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ['day', 86_400_000],
  ['hour', 3_600_000],
  ['minute', 60_000],
  ['second', 1_000],
];

const format = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });

/** `at` relative to `now`: "just now" within 10 s, else "5 minutes ago" or "in 3 days". */
export function relativeTime(at: Date, now: number): string {
  const ms = at.getTime() - now;
  if (Math.abs(ms) < 10_000) return 'just now';
  for (const [unit, size] of UNITS) {
    if (Math.abs(ms) >= size) return format.format(Math.round(ms / size), unit);
  }
  return format.format(Math.round(ms / 1000), 'second');
}

/** A `<time>` element: the relative time, with the absolute UTC time as its tooltip. */
export function timeTag(at: Date, now: number): string {
  const iso = at.toISOString();
  const utc = `${iso.slice(0, 19).replace('T', ' ')} UTC`;
  return `<time datetime="${iso}" title="${utc}">${relativeTime(at, now)}</time>`;
}
