import { mkdtempSync, rmSync, statSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { createApp } from '../../example/app';
import { describeIf, useDatabase } from '../support/server';
import { ARGS, CHROMIUM, expectText, HAS_CHROMIUM } from './chromium';

const db = useDatabase('browser');

describeIf(HAS_CHROMIUM, 'the demo in a real browser', () => {
  let dir: string;
  let server: Server;
  let url: string;
  let context: BrowserContext;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cms-browser-'));
    const store = await db.open();
    server = createApp({ store, secret: 'browser test', maxAge: 600_000 }).listen(0, '127.0.0.1');
    await new Promise((ok) => server.once('listening', ok));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    context = await chromium.launchPersistentContext(join(dir, 'profile'), {
      executablePath: CHROMIUM,
      headless: true,
      args: ARGS,
    });
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    await new Promise((ok) => server?.close(ok));
    if (process.env.KEEP_SCREENSHOT) process.stdout.write(`screenshot kept in ${dir}\n`);
    else rmSync(dir, { recursive: true, force: true });
  });

  it('counts clicks on "Count again", regenerates at 10, then says so without the id', async () => {
    const page = await context.newPage();
    await page.goto(url);
    await expectText(page, '#count', '1');
    for (let n = 2; n <= 9; n++) {
      await page.getByRole('button', { name: 'Count again' }).click();
      await expectText(page, '#count', `${n}`);
      await expectText(page, '#online', '1');
    }
    await page.getByRole('button', { name: 'Count again' }).click();
    await page.waitForFunction(() => document.body.textContent?.includes('regenerated session.'));
    const [sid] = (await context.cookies(url)).filter((c) => c.name === 'sid');
    const newId = decodeURIComponent(sid.value).slice(2).split('.')[0];

    await page.goto(url);
    await expectText(page, '#count', '1');
    expect(await page.textContent('.flash')).toBe(
      'New session: the store deleted the old id and saved this one.',
    );
    expect(await page.content()).not.toContain(newId);

    const shot = join(dir, 'demo.png');
    await page.screenshot({ path: shot });
    expect(statSync(shot).size).toBeGreaterThan(1_000);
  }, 60_000);

  it('sets the session cookie HttpOnly with path /', async () => {
    const [sid] = (await context.cookies(url)).filter((c) => c.name === 'sid');
    expect(sid).toMatchObject({ httpOnly: true, path: '/' });
  });
});

describeIf(HAS_CHROMIUM, 'the account flow in two real browsers', () => {
  let dir: string;
  let server: Server;
  let url: string;
  let browser: Browser;
  let phone: BrowserContext;
  let desktop: BrowserContext;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cms-account-'));
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
  }, 60_000);

  // Each test gets its own store (the harness closes stores after each test), server and
  // two fresh browser contexts: a phone and a desktop.
  beforeEach(async () => {
    const store = await db.open({ metadata: { ip: true, userAgent: true } });
    server = createApp({ store, secret: 'browser test', maxAge: 600_000 }).listen(0, '127.0.0.1');
    await new Promise((ok) => server.once('listening', ok));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    // A phone honours the viewport meta tag only when it is one (isMobile).
    phone = await browser.newContext({
      viewport: { width: 390, height: 844 },
      deviceScaleFactor: 2,
      isMobile: true,
      hasTouch: true,
    });
    desktop = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  });

  afterEach(async () => {
    await Promise.all([phone?.close(), desktop?.close()]);
    server?.closeAllConnections();
    await new Promise((ok) => server?.close(ok));
  });

  afterAll(async () => {
    await browser?.close();
    if (process.env.KEEP_SCREENSHOT) process.stdout.write(`screenshots kept in ${dir}\n`);
    else rmSync(dir, { recursive: true, force: true });
  });

  async function signIn(context: BrowserContext, name: string, screenshot?: string): Promise<Page> {
    const page = await context.newPage();
    await page.goto(url);
    await page.click('a[href="/sign-in"]');
    await page.fill('#name', name);
    if (screenshot !== undefined) await shot(page, screenshot);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${url}account`);
    return page;
  }

  /** A full-page screenshot in the temp dir, checked to be more than blank. */
  async function shot(page: Page, name: string): Promise<void> {
    const path = join(dir, `${name}.png`);
    await page.screenshot({ path, fullPage: true });
    expect(statSync(path).size).toBeGreaterThan(1_000);
  }

  it('shows two sessions on both; "sign out other devices" on one signs the other out', async () => {
    const onPhone = await signIn(phone, 'Ann <b>&"', 'sign-in-phone');
    const onDesktop = await signIn(desktop, 'Ann <b>&"');
    for (const page of [onPhone, onDesktop]) {
      await page.reload();
      await expectText(page, 'h1', 'Your devices');
      await expectText(page, '#user', 'Ann <b>&"');
      expect(await page.locator('li.session').count()).toBe(2);
      expect(await page.locator('li.session.current').textContent()).toContain('This device');
      // Nothing wider than the screen: no sideways scrolling on the phone.
      expect(
        await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth),
      ).toBe(true);
    }
    await shot(onPhone, 'account-phone');
    await shot(onDesktop, 'account-desktop');

    await onPhone.getByRole('button', { name: 'Sign out all other devices' }).click();
    await expectText(onPhone, '.flash', 'Signed out 1 other device.');
    expect(onPhone.url()).toBe(`${url}account`);
    await shot(onPhone, 'account-phone-after');

    await onDesktop.reload();
    await expectText(onDesktop, 'h1', 'Sign in');
    expect(onDesktop.url()).toBe(`${url}sign-in`);

    // The phone's page came from a GET: reloading it posts nothing again.
    await onPhone.reload();
    await expectText(onPhone, 'h1', 'Your devices');
    expect(await onPhone.locator('li.session').count()).toBe(1);
    expect(await onPhone.locator('.flash').count()).toBe(0);
  }, 150_000);

  it('signs out this device with "Sign out"', async () => {
    const page = await signIn(desktop, 'Bob');
    await page.getByRole('button', { name: 'Sign out of this device' }).click();
    await page.waitForURL(`${url}sign-in`);
    await page.goto(`${url}account`);
    expect(page.url()).toBe(`${url}sign-in`);
  }, 30_000);
});
