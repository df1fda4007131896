/// <reference lib="dom" />
// What the Chromium specs share: where the browser is, how it is started, and a wait for text.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

export const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Whether the specs can run a browser, and why not. */
export const HAS_CHROMIUM = {
  ok: existsSync(CHROMIUM),
  reason: `no Chromium at ${CHROMIUM} (apt-get install -y chromium)`,
};

/** Where screenshots meant to be looked at are kept (ignored by git), created on demand. */
export function screenshotDir(): string {
  const dir = join(__dirname, '..', '..', '.cache', 'screenshots');
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Waits until `selector`'s text is `text`; on a timeout, says what the page showed. */
export async function expectText(page: Page, selector: string, text: string): Promise<void> {
  await page
    .waitForFunction(
      ([sel, want]) => document.querySelector(sel)?.textContent === want,
      [selector, text] as const,
      // Generous: on 2 cores the suite's heaviest specs may share the CPU with this one.
      { timeout: 30_000 },
    )
    .catch(async (err: Error) => {
      // Say what the page showed instead: a timeout alone tells nothing.
      const shown = await page
        .locator('body')
        .textContent()
        .catch(() => '(no page)');
      throw new Error(
        `${err.message}\nwanted ${selector} = ${JSON.stringify(text)} at ${page.url()}; the page showed:\n${shown}`,
      );
    });
}
