// Debian's Chromium, headless, driven by playwright-core (no browser download), and where the tests
// write their screenshots (`PORTCULLIS_TEST_OUTPUT`, else test-output/ in the repository).
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { REPO_ROOT } from '../../src/toolchain/tools.ts';

export const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));

export function launchChromium(): Promise<Browser> {
  if (!CHROMIUM) throw new Error('chromium is not installed (apt-get install chromium)');
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

export function testOutputDir(name: string): string {
  const dir = join(process.env.PORTCULLIS_TEST_OUTPUT || join(REPO_ROOT, 'test-output'), name);
  mkdirSync(dir, { recursive: true });
  return dir;
}
