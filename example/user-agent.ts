// A user agent as a person reads it: "Chrome 126 on macOS", through bowser (MIT).
import Bowser from 'bowser';

/** What a page shows of a device's user agent. */
export interface BrowserLabel {
  /** Browser and major version, and the OS: "Chrome 126 on macOS". */
  name: string;
  /** `desktop`, `mobile`, `tablet`, `tv` or `bot`, when the parser can tell. */
  kind: string | undefined;
}

/** The major version of `version` ("126.0.6478" gives "126"), or "" when there is none. */
const major = (version: string | undefined) => /^\d+/.exec(version ?? '')?.[0] ?? '';

/** `userAgent` as a browser, version and OS; "Unknown browser" when none is recorded. */
export function describeUserAgent(userAgent: string | undefined): BrowserLabel {
  // bowser throws on an empty string; a stored agent may also be one no parser knows.
  if (userAgent === undefined || userAgent.trim() === '')
    return { name: 'Unknown browser', kind: undefined };
  const { browser, os, platform } = Bowser.parse(userAgent);
  const browserName = browser.name
    ? `${browser.name} ${major(browser.version)}`.trim()
    : 'Unknown browser';
  const osName = os.name
    ? ` on ${os.name === 'Windows' ? `Windows ${os.versionName ?? ''}`.trim() : os.name}`
    : '';
  return { name: `${browserName}${osName}`, kind: platform.type };
}
