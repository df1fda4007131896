import { statSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { createApp } from '../../example/app';
import { describeIf, useDatabase } from '../support/server';
import { ARGS, CHROMIUM, expectText, HAS_CHROMIUM, screenshotDir } from './chromium';

const db = useDatabase('devices_browser');

const DESKTOP = { width: 1280, height: 800 };
// A phone honours the viewport meta tag only when it is one (isMobile).
const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true };

const LAPTOP = {
  label: 'Firefox 128 on Linux',
  userAgent: 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
};
const IPHONE = {
  label: 'Safari 17 on iOS',
  userAgent:
    'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
};
const WORK_PC = {
  label: 'Microsoft Edge 126 on Windows 10',
  userAgent:
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0',
};

describeIf(HAS_CHROMIUM, 'your devices, in three real browsers', () => {
  let server: Server;
  let url: string;
  let browser: Browser;
  let contexts: BrowserContext[] = [];
  const dir = screenshotDir();
  const shots: string[] = [];

  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
    const store = await db.open({ metadata: { ip: true, userAgent: true } });
    server = createApp({ store, secret: 'devices', maxAge: 600_000 }).listen(0, '127.0.0.1');
    await new Promise((ok) => server.once('listening', ok));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  }, 60_000);

  afterAll(async () => {
    await Promise.all(contexts.map((c) => c.close()));
    await browser?.close();
    server?.closeAllConnections();
    await new Promise((ok) => server?.close(ok));
    if (shots.length > 0) console.log(`screenshots of the devices pages:\n${shots.join('\n')}`);
  });

  /** A full-page screenshot kept in .cache/screenshots, checked to be more than blank. */
  async function shot(page: Page, name: string): Promise<void> {
    const path = join(dir, `${name}.png`);
    await page.screenshot({ path, fullPage: true });
    expect(statSync(path).size).toBeGreaterThan(5_000);
    shots.push(path);
  }

  /** No sideways scrolling: nothing is wider than the screen. */
  const fits = (page: Page) =>
    page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);

  async function signIn(context: BrowserContext, name: string): Promise<Page> {
    const page = await context.newPage();
    await page.goto(`${url}sign-in`);
    await page.fill('#name', name);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${url}account`);
    return page;
  }

  it('signs one device out with its button: it hears so at its next page, the others stay', async () => {
    contexts = [
      await browser.newContext({ viewport: DESKTOP, userAgent: LAPTOP.userAgent }),
      await browser.newContext({ ...PHONE, userAgent: IPHONE.userAgent }),
      await browser.newContext({ viewport: DESKTOP, userAgent: WORK_PC.userAgent }),
    ];
    const [laptop, phone, work] = await Promise.all(contexts.map((c) => signIn(c, 'Dana')));

    for (const [page, me] of [
      [laptop, LAPTOP],
      [phone, IPHONE],
    ] as const) {
      await page.reload();
      expect(await page.locator('li.session').count()).toBe(3);
      const current = page.locator('li.session.current');
      expect(await current.locator('.browser').textContent()).toBe(me.label);
      expect(await current.textContent()).toContain('This device');
      expect(await page.locator('li.session .ip').first().textContent()).toContain('127.0.0.1');
      expect(await page.locator('li.session').first().textContent()).toMatch(
        /Signed in just now · last seen now/,
      );
      expect(await fits(page)).toBe(true);
    }
    await shot(laptop, 'devices-desktop');
    await shot(phone, 'devices-phone');
    await phone.goto(url);
    await expectText(phone, 'h1', 'Session counter');
    expect(await fits(phone)).toBe(true);
    await shot(phone, 'counter-phone');
    await laptop.goto(url);
    await shot(laptop, 'counter-desktop');

    await laptop.goto(`${url}account`);
    await laptop.getByRole('button', { name: `Sign out ${IPHONE.label}` }).click();
    await expectText(laptop, '.flash', `Signed out ${IPHONE.label}.`);
    expect(await laptop.locator('li.session').count()).toBe(2);

    // The phone's next request: its cookie names a session that is gone.
    await phone.goto(`${url}account`);
    expect(phone.url()).toBe(`${url}sign-in`);
    await expectText(phone, '.flash.notice', 'You were signed out from another device.');
    expect(await fits(phone)).toBe(true);
    await shot(phone, 'signed-out-phone');

    for (const page of [laptop, work]) {
      await page.goto(`${url}account`);
      expect(page.url()).toBe(`${url}account`);
      expect(await page.locator('li.session').count()).toBe(2);
    }
    const labels = await work.locator('li.session .browser').allTextContents();
    expect(labels.sort()).toEqual([LAPTOP.label, WORK_PC.label].sort());
  }, 120_000);
});
