/**
 * Debian's Chromium (never a downloaded browser) driven through playwright-core, for the
 * dashboard's browser tests.
 */
import { existsSync } from 'node:fs';
import { chromium, type BrowserContext } from 'playwright-core';
import { tempDir } from './processes.js';
import { requirement, type Requirement } from './requirements.js';

export const CHROMIUM = '/usr/bin/chromium';

/** Chromium for `what`: skipped where it is missing, a failure in CI. */
export function chromiumRequirement(what: string): Requirement {
  return requirement(what, existsSync(CHROMIUM) ? null : `${CHROMIUM} is missing (apt-get install -y chromium)`);
}

/** A headless browser with a fresh profile; close the context when done. */
export async function launchChromium(): Promise<BrowserContext> {
  return chromium.launchPersistentContext(tempDir('chromium'), {
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1400, height: 1000 },
  });
}
