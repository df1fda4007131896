/// <reference lib="dom" />
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';
import { createApp } from '../../example/app';
import { describeIf, useDatabase } from '../support/server';

const CHROMIUM = '/usr/bin/chromium';
const db = useDatabase('browser');

describeIf(
  { ok: existsSync(CHROMIUM), reason: `no Chromium at ${CHROMIUM} (apt-get install -y chromium)` },
  'the demo in a real browser',
  () => {
    let dir: string;
    let server: Server;
    let url: string;
    let context: BrowserContext;

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'cms-browser-'));
      const store = await db.open();
      server = createApp({ store, secret: 'browser test', maxAge: 60_000 }).listen(0, '127.0.0.1');
      await new Promise((ok) => server.once('listening', ok));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
      context = await chromium.launchPersistentContext(join(dir, 'profile'), {
        executablePath: CHROMIUM,
        headless: true,
        args: [
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
      });
    }, 60_000);

    afterAll(async () => {
      await context?.close();
      await new Promise((ok) => server?.close(ok));
      if (process.env.KEEP_SCREENSHOT) process.stdout.write(`screenshot kept in ${dir}\n`);
      else rmSync(dir, { recursive: true, force: true });
    });

    it('counts clicks on "POST request!", regenerates at 10, then shows the new id', async () => {
      const page = await context.newPage();
      await page.goto(url);
      await expectText(page, '#count', 'count: 1');
      for (let n = 2; n <= 9; n++) {
        await page.click('input[value="POST request!"]');
        await expectText(page, '#count', `count: ${n}`);
        await expectText(page, '#online', 'online : 1');
      }
      await page.click('input[value="POST request!"]');
      await page.waitForFunction(() => document.body.textContent?.includes('regenerated session.'));
      const [sid] = (await context.cookies(url)).filter((c) => c.name === 'sid');
      const newId = decodeURIComponent(sid.value).slice(2).split('.')[0];

      await page.goto(url);
      await expectText(page, '#count', 'count: 1');
      expect(await page.textContent('.flash')).toBe(`New session. ${newId}`);

      const shot = join(dir, 'demo.png');
      await page.screenshot({ path: shot });
      expect(statSync(shot).size).toBeGreaterThan(1_000);
    }, 60_000);

    it('sets the session cookie HttpOnly with path /', async () => {
      const [sid] = (await context.cookies(url)).filter((c) => c.name === 'sid');
      expect(sid).toMatchObject({ httpOnly: true, path: '/' });
    });
  },
);

async function expectText(
  page: import('playwright-core').Page,
  selector: string,
  text: string,
): Promise<void> {
  await page.waitForFunction(
    ([sel, want]) => document.querySelector(sel)?.textContent === want,
    [selector, text] as const,
    { timeout: 10_000 },
  );
}
