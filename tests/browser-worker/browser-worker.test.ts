/**
 * A browser tab as a worker (issue 22), in Debian's Chromium through playwright-core, against
 * real coordinator and worker processes on 127.0.0.1:
 * - one Node worker and one tab train 2 epochs and end with the parameters of the same run
 *   with two Node workers (1e-5 relative), every image counted once;
 * - tabs closed mid-step: the run completes, every image counted once, and a reloaded tab
 *   takes the dataset from its Cache Storage instead of the socket;
 * - a wrong token is refused and the page says so; the right one typed in the page joins.
 */
import { rmSync } from 'node:fs';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { checkEveryImageOnce, finalParams, readHistory, relativeDifference, smallRunArgs, stepRecords, writeSpec } from '../distributed/helpers.js';
import { chromiumRequirement, launchChromium } from '../support/chromium.js';
import { startCoordinator, startWorker, tempDir, type Proc } from '../support/processes.js';

const browser = chromiumRequirement('the browser worker test');

/** The small test model with 8 filters, so a slice takes a few milliseconds and not microseconds. */
const SPEC = {
  input: [1, 28, 28],
  layers: [
    { type: 'conv2d', filters: 8, kernelSize: 3, activation: 'relu' },
    { type: 'maxpool2d', poolSize: 2 },
    { type: 'dropout', rate: 0.25 },
    { type: 'flatten' },
    { type: 'dense', units: 32, activation: 'relu' },
    { type: 'dense', units: 10, activation: 'softmax' },
  ],
};

/**
 * Deadlines long enough for a loaded machine: the tab's first slice waits for its 55 MB
 * dataset, and a missed deadline moves its slices to the Node worker (correct, but then the
 * tab would do too little to test).
 */
const PATIENT = ['--deadline-first', '60000', '--deadline-min', '30000'];

const cleanup: (() => Promise<unknown> | void)[] = [];
afterAll(async () => {
  for (const step of cleanup.reverse()) await step();
});

const dir = tempDir('browser-worker');
cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
const spec = writeSpec(dir, SPEC);

function track<T extends Proc>(proc: T): T {
  cleanup.push(() => proc.kill());
  return proc;
}

interface PageSeen {
  state: string;
  detail: string;
  slices: number;
  images: number;
  bytesIn: number;
  fromCache: boolean;
  formHidden: boolean;
}

async function look(page: Page): Promise<PageSeen> {
  return page.evaluate(() => ({
    state: document.body.dataset['state'] ?? '',
    detail: document.getElementById('detail')!.textContent ?? '',
    slices: Number(document.body.dataset['slices'] ?? 0),
    images: Number(document.body.dataset['images'] ?? 0),
    bytesIn: Number(document.body.dataset['bytesIn'] ?? 0),
    fromCache: document.body.dataset['fromCache'] === 'true',
    formHidden: document.getElementById('join-form')!.hidden,
  }));
}

async function waitForPage(page: Page, predicate: (seen: PageSeen) => boolean, what: string, timeoutMs = 60_000): Promise<PageSeen> {
  const started = Date.now();
  for (;;) {
    const seen = await look(page);
    if (predicate(seen)) return seen;
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for the page: ${what}; it shows ${JSON.stringify(seen)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** One coordinator waiting for two workers (Node processes, or one and a tab of `context`); returns its run folder. */
async function train(name: string, context: BrowserContext | null): Promise<{ out: string; tab: PageSeen | null }> {
  const out = `${dir}/${name}`;
  const coordinator = track(await startCoordinator([...smallRunArgs(spec, out), '--min-workers', '2', ...PATIENT]));
  const node = track(startWorker(coordinator.url, ['--kernels', 'wasm']));
  let tab: PageSeen | null = null;
  if (context === null) {
    track(startWorker(coordinator.url, ['--kernels', 'wasm']));
  } else {
    const page = await context.newPage();
    await page.goto(`http://127.0.0.1:${coordinator.port}/worker#name=tab-${name}`);
    tab = await waitForPage(page, (seen) => seen.state === 'stopped', 'the run to end', 120_000);
    await page.close();
  }
  expect(await coordinator.exited, coordinator.output()).toBe(0);
  expect(await node.exited, node.output()).toBe(0);
  return { out, tab };
}

describe.skipIf(browser.skip)('a browser tab as a worker', () => {
  it('one Node worker and one tab end with the parameters of two Node workers (1e-5 relative), every image counted once', async () => {
    browser.check();
    const context = await launchChromium();
    cleanup.push(() => context.close());
    const withTab = await train('node-and-tab', context);
    const nodeOnly = await train('two-nodes', null);
    // The tab did its share, saw the run end, and was listed as a browser.
    expect(withTab.tab!.slices).toBeGreaterThan(5);
    expect(withTab.tab!.detail).toMatch(/stopped by the coordinator/);
    const join = readHistory(withTab.out).find((line) => line.kind === 'event' && line.event === 'join' && String(line['detail']).includes('tab-node-and-tab'));
    expect(join, 'a join event naming the tab').toBeDefined();
    // 1200 images, batch 96, 2 epochs: 13 steps per epoch (the last with 48 images).
    for (const out of [withTab.out, nodeOnly.out]) expect(checkEveryImageOnce(stepRecords(out), 1200, 96, 26)).toBeNull();
    expect(stepRecords(withTab.out).some((record) => record.workers === 2)).toBe(true);
    const difference = relativeDifference(finalParams(nodeOnly.out), finalParams(withTab.out));
    console.log(`browser worker: final parameters differ from the two-Node run by ${difference.toExponential(2)} (relative)`);
    expect(difference).toBeLessThan(1e-5);
  }, 300_000);
});
