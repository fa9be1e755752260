/**
 * A browser tab as a worker (issue 22), in Debian's Chromium through playwright-core, against
 * real coordinator and worker processes on 127.0.0.1:
 * - one Node worker and one tab train 2 epochs and end with the parameters of the same run
 *   with two Node workers (1e-5 relative), every image counted once;
 * - tabs closed mid-step: the run completes, every image counted once, and a reloaded tab
 *   takes the dataset from its Cache Storage instead of the socket;
 * - a wrong token is refused and the page says so; the right one typed in the page joins,
 *   the dashboard lists the tab as a browser, and Stop leaves cleanly (rejoining after);
 * - a frozen tab leaves at once (no deadline waited for) and joins again when it resumes.
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
  workerId: number;
  slices: number;
  images: number;
  bytesIn: number;
  fromCache: boolean;
  /** The received dataset is stored in Cache Storage. */
  kept: boolean;
  formHidden: boolean;
  /** "wasm relaxed SIMD · chrome 131": the kernel variant feature detection chose, and the runtime. */
  engine: string;
}

async function look(page: Page): Promise<PageSeen> {
  return page.evaluate(() => ({
    state: document.body.dataset['state'] ?? '',
    detail: document.getElementById('detail')!.textContent ?? '',
    workerId: Number(document.body.dataset['workerId'] || 0),
    slices: Number(document.body.dataset['slices'] ?? 0),
    images: Number(document.body.dataset['images'] ?? 0),
    bytesIn: Number(document.body.dataset['bytesIn'] ?? 0),
    fromCache: document.body.dataset['fromCache'] === 'true',
    kept: document.body.dataset['kept'] === 'true',
    formHidden: document.getElementById('join-form')!.hidden,
    engine: document.getElementById('engine')!.textContent ?? '',
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

/**
 * Opens a tab on the coordinator's /worker page and waits until it holds the dataset.
 * NOTE: the tab joins before the Node worker, so training (--min-workers 2) starts once it is
 * ready: a first slice that waited behind the 55 MB dataset would be measured as this tab's
 * speed, and slices are cut in proportion to speed (a tab measured that slow gets no images).
 */
async function openTab(context: BrowserContext, port: number, name: string): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`http://127.0.0.1:${port}/worker#name=${name}`);
  await waitForPage(page, (seen) => seen.state === 'ready', 'the tab to hold the dataset', 120_000);
  return page;
}

/** One coordinator waiting for two workers (Node processes, or a tab of `context` and one Node worker); returns its run folder. */
async function train(name: string, context: BrowserContext | null): Promise<{ out: string; tab: PageSeen | null }> {
  const out = `${dir}/${name}`;
  const coordinator = track(await startCoordinator([...smallRunArgs(spec, out), '--min-workers', '2', ...PATIENT]));
  const page = context === null ? null : await openTab(context, coordinator.port, `tab-${name}`);
  const workers = Array.from({ length: page === null ? 2 : 1 }, () => track(startWorker(coordinator.url, ['--kernels', 'wasm'])));
  const tab = page === null ? null : await waitForPage(page, (seen) => seen.state === 'stopped', 'the run to end', 120_000);
  await page?.close();
  expect(await coordinator.exited, coordinator.output()).toBe(0);
  for (const worker of workers) expect(await worker.exited, worker.output()).toBe(0);
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
    // NOTE: Chromium runs relaxed SIMD by default and the Node workers enable it, so both engines run the same FMA kernels.
    expect(withTab.tab!.engine).toMatch(/^wasm relaxed SIMD · chrome \d+$/);
    console.log(`browser worker (${withTab.tab!.engine}): final parameters differ from the two-Node run by ${difference.toExponential(2)} (relative)`);
    expect(difference).toBeLessThan(1e-5);
  }, 300_000);
});

describe.skipIf(browser.skip)('tabs that come and go', () => {
  it('tabs closed mid-step: their slices go to the others, the run completes with every image counted once; a new tab takes the dataset from Cache Storage', async () => {
    browser.check();
    const context = await launchChromium();
    cleanup.push(() => context.close());
    const out = `${dir}/closing`;
    // 4800 images, batch 96, 4 epochs: 200 steps, long enough for a few tabs to come and go on a loaded machine.
    const args = smallRunArgs(spec, out, ['--epochs', '4']).map((value) => (value === '1200' ? '4800' : value));
    const coordinator = track(await startCoordinator([...args, '--min-workers', '2', ...PATIENT]));
    const first = await openTab(context, coordinator.port, 'closing-1');
    // A Node worker that takes 150 ms more per slice: the tabs, measured faster, get most of
    // each batch, so a tab closed at a random moment is most likely mid-slice.
    const node = track(startWorker(coordinator.url, ['--kernels', 'wasm', '--chaos-delay', '150']));
    const handedOver = () => (coordinator.output().match(/\[death\] worker \d+: .*its slice of \d+ images goes to the others/g) ?? []).length;
    const seen: PageSeen[] = [];
    // Closing at a random moment usually catches the tab mid-slice; until one did, another tab joins and is closed.
    for (let attempt = 1; handedOver() === 0; attempt++) {
      expect(attempt, `no tab was caught mid-step in 6 tries:\n${coordinator.output()}`).toBeLessThanOrEqual(6);
      const page = attempt === 1 ? first : await openTab(context, coordinator.port, `closing-${attempt}`);
      const before = stepRecords(out).length;
      // The first tab stays until it has stored the dataset, which the later ones then read.
      const tab = await waitForPage(page, (now) => now.slices >= 1 && (attempt > 1 || now.kept), 'a slice (and the dataset stored)', 120_000);
      seen.push(tab);
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 150));
      await page.close();
      await coordinator.waitFor(new RegExp(`\\[death\\] worker ${tab.workerId}: `), 30_000);
      expect(stepRecords(out).length, 'the run had ended before the tab was closed').toBeGreaterThan(before);
    }
    // The first tab received the dataset over its socket; later tabs found it in Cache Storage.
    expect(seen[0]!.fromCache).toBe(false);
    expect(seen[0]!.bytesIn).toBeGreaterThan(50_000_000);
    if (seen.length > 1) expect(seen.slice(1).every((tab) => tab.fromCache && tab.bytesIn < 5_000_000), JSON.stringify(seen)).toBe(true);
    expect(await coordinator.exited, coordinator.output()).toBe(0);
    expect(await node.exited, node.output()).toBe(0);
    expect(checkEveryImageOnce(stepRecords(out), 4800, 96, 200)).toBeNull();
    // A tab opened for the next run on the same address (Cache Storage is per origin: scheme,
    // host and port) reads the dataset from this browser instead of the socket.
    const second = track(await startCoordinator([...smallRunArgs(spec, `${dir}/reload`), '--min-workers', '1', ...PATIENT, '--port', String(coordinator.port)]));
    const page = await context.newPage();
    await page.goto(`http://127.0.0.1:${second.port}/worker#name=reloaded`);
    const reloaded = await waitForPage(page, (tab) => tab.state === 'stopped', 'the second run to end', 120_000);
    expect(reloaded.fromCache).toBe(true);
    expect(reloaded.bytesIn).toBeLessThan(5_000_000);
    expect(reloaded.slices).toBeGreaterThan(0);
    expect(await second.exited, second.output()).toBe(0);
  }, 300_000);

  it('a wrong token is refused and the page says so; the right one typed in the page joins, the dashboard lists a browser, Stop leaves', async () => {
    browser.check();
    const context = await launchChromium();
    cleanup.push(() => context.close());
    // 10 epochs of 4800 images: long enough to look at the dashboard and press Stop while the tab works.
    const args = smallRunArgs(spec, `${dir}/token`, ['--epochs', '10']).map((value) => (value === '1200' ? '4800' : value));
    const coordinator = track(await startCoordinator([...args, '--min-workers', '1', '--token', 'right-secret', ...PATIENT]));
    // The page is served without the token (it asks for it); the dashboard is not.
    expect((await fetch(`http://127.0.0.1:${coordinator.port}/worker`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${coordinator.port}/`)).status).toBe(401);
    const page = await context.newPage();
    await page.goto(`http://127.0.0.1:${coordinator.port}/worker#token=wrong-secret`);
    const refused = await waitForPage(page, (tab) => tab.state === 'refused', 'the refusal');
    expect(refused.detail).toMatch(/refused by the coordinator \(BAD_TOKEN: wrong token\)/);
    expect(refused.formHidden).toBe(false);
    expect(coordinator.output()).not.toMatch(/\[join\]/);
    // The dashboard, open while the tab joins, lists it as a browser worker.
    const dashboard = await context.newPage();
    await dashboard.goto(`http://127.0.0.1:${coordinator.port}/?token=right-secret`);
    await page.fill('#token', 'right-secret');
    await page.click('#join-form button[type=submit]');
    await dashboard.waitForFunction(() => document.querySelector('#workers-body tr td:nth-child(5)')?.textContent?.includes('(browser)') === true, null, { timeout: 60_000 });
    expect(await dashboard.textContent('#workers-body tr td:nth-child(5)')).toMatch(/^wasm · chrome \d+ \(browser\)$/);
    // Stop leaves cleanly (a leave, not a death); Join again comes back as a new worker.
    await page.click('#stop');
    const left = await waitForPage(page, (tab) => tab.state === 'stopped', 'the tab to leave');
    expect(left.detail).toBe('left: stopped from the browser page');
    await coordinator.waitFor(/\[leave\] worker 1: stopped from the browser page/);
    expect(left.formHidden).toBe(false);
    await page.click('#join-form button[type=submit]');
    const joined = await waitForPage(page, (tab) => tab.state === 'stopped' && tab.detail.startsWith('stopped by the coordinator'), 'the run to end', 120_000);
    expect(joined.slices).toBeGreaterThan(0);
    expect(await coordinator.exited, coordinator.output()).toBe(0);
    expect(coordinator.output()).toMatch(/\[join\] worker 1: browser-[\s\S]*\[join\] worker 2: browser-/);
    expect(coordinator.output()).not.toMatch(/\[death\]/);
    await dashboard.close();
  }, 180_000);

  it('a frozen tab leaves at once (its slice goes to the Node worker, no deadline waited for) and joins again when it resumes, every image counted once', async () => {
    browser.check();
    const context = await launchChromium();
    cleanup.push(() => context.close());
    const out = `${dir}/frozen`;
    const args = smallRunArgs(spec, out, ['--epochs', '10']).map((value) => (value === '1200' ? '4800' : value));
    const coordinator = track(await startCoordinator([...args, '--min-workers', '2', ...PATIENT]));
    const page = await openTab(context, coordinator.port, 'frozen');
    const node = track(startWorker(coordinator.url, ['--kernels', 'wasm']));
    const before = await waitForPage(page, (tab) => tab.slices > 0, 'a slice');
    // NOTE: the events Chromium fires before it freezes a page and after it resumes it, sent by
    // the test: headless Chromium keeps every page visible, and CDP's Page.setWebLifecycleState
    // freezes nothing there (no event, no pause of the page's or its Web Worker's timers).
    const lifecycle = (event: 'freeze' | 'resume') => page.evaluate((name) => document.dispatchEvent(new Event(name)), event);
    const frozenAt = Date.now();
    await lifecycle('freeze');
    await coordinator.waitFor(new RegExp(`\\[leave\\] worker ${before.workerId}: the browser froze this tab`), 20_000);
    const leftMs = Date.now() - frozenAt;
    // While the tab is frozen the run goes on with the Node worker alone.
    const stepsAtLeave = stepRecords(out).length;
    for (const started = Date.now(); stepRecords(out).length < stepsAtLeave + 3; ) {
      expect(Date.now() - started, 'steps taken while the tab is frozen').toBeLessThan(30_000);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await lifecycle('resume');
    // Resumed, the tab joins again as a new worker, with the dataset it held (nothing downloaded again).
    const rejoined = await waitForPage(page, (tab) => tab.workerId !== before.workerId && tab.state === 'ready' && tab.slices > 0, 'the tab to join again and compute', 60_000);
    expect(rejoined.bytesIn).toBeLessThan(5_000_000);
    const ended = await waitForPage(page, (tab) => tab.state === 'stopped', 'the run to end', 120_000);
    expect(ended.detail).toMatch(/stopped by the coordinator/);
    expect(await coordinator.exited, coordinator.output()).toBe(0);
    expect(await node.exited, node.output()).toBe(0);
    // A leave, never a death or a missed deadline: the run did not wait on the frozen tab.
    expect(coordinator.output()).not.toMatch(new RegExp(`\\[(death|deadline-miss)\\] worker ${before.workerId}:`));
    expect(coordinator.output()).toMatch(new RegExp(`\\[join\\] worker ${rejoined.workerId}: frozen `));
    console.log(`frozen tab: left ${leftMs} ms after the freeze; rejoined as worker ${rejoined.workerId}`);
    expect(checkEveryImageOnce(stepRecords(out), 4800, 96, 500)).toBeNull();
  }, 180_000);
});
