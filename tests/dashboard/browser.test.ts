/**
 * The dashboard in a real browser (Debian's Chromium through playwright-core) during a
 * real training run: the `convoy-coordinator` process serving the page, and real worker
 * processes. It watches the loss chart gain points and the step counter advance, finds
 * both workers listed, kills one with SIGKILL and sees it marked gone while the run goes
 * on; then stops the coordinator (the page waits for a --resume), restarts it with --resume
 * on the same port, and sees the page reconnect by itself and continue the same charts. Screenshot:
 * test-artifacts/dashboard.png.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { writeSpec } from '../distributed/helpers.js';
import { chromiumRequirement, launchChromium } from '../support/chromium.js';
import { ROOT, startCoordinator, startWorker, tempDir, type Proc } from '../support/processes.js';

const browser = chromiumRequirement('the dashboard browser test');

/** A small CNN (8 filters, 43,706 parameters): a step of 32 images takes milliseconds. */
const DASHBOARD_SPEC = {
  input: [1, 28, 28],
  layers: [
    { type: 'conv2d', filters: 8, kernelSize: 3, activation: 'relu' },
    { type: 'maxpool2d', poolSize: 2 },
    { type: 'flatten' },
    { type: 'dense', units: 32, activation: 'relu' },
    { type: 'dense', units: 10, activation: 'softmax' },
  ],
};

/** A worker process with the fastest kernels, named as the page lists it. */
const startNamedWorker = (port: number, name: string) => startWorker(`ws://127.0.0.1:${port}`, ['--kernels', 'auto', '--name', name]);

interface Seen {
  step: number;
  lossPoints: number;
  stepText: string;
  connection: string;
  workers: { id: number; name: string; state: string }[];
  marks: number;
}

async function look(page: Page): Promise<Seen> {
  return page.evaluate(() => ({
    step: Number(document.body.dataset['step']),
    lossPoints: Number(document.body.dataset['lossPoints']),
    stepText: document.getElementById('progress-step')!.textContent ?? '',
    connection: document.getElementById('connection')!.dataset['state'] ?? '',
    workers: [...document.querySelectorAll<HTMLTableRowElement>('#workers-body tr')].map((row) => ({
      id: Number(row.dataset['workerId']),
      name: row.children[1]!.textContent ?? '',
      state: row.dataset['state'] ?? '',
    })),
    marks: Number(document.querySelector<HTMLElement>('#loss-chart .uplot')?.dataset['marks'] ?? 0),
  }));
}

/** "1,234 / 3,150" -> 1234 */
const shownStep = (text: string) => Number(text.split('/')[0]!.replaceAll(',', '').trim());

const cleanup: (() => Promise<unknown> | void)[] = [];
afterAll(async () => {
  for (const step of cleanup.reverse()) await step();
});

describe.skipIf(browser.skip)('dashboard in a real browser during a 2-worker run', () => {
  it('charts and counters advance, both workers listed, a killed worker goes gone, a restarted coordinator is followed', async () => {
    browser.check(); // in CI: fails here, with the reason, when the browser is missing
    const dir = tempDir('dashboard');
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const runArgs = [
      '--model', writeSpec(dir, DASHBOARD_SPEC), '--kernels', 'auto', '--out', join(dir, 'run'),
      '--train-size', '2000', '--validation-size', '300', '--test-size', '0',
      '--batch', '32', '--epochs', '60', '--optimizer', 'adam', '--lr', '0.003', '--lr-schedule', 'step', '--seed', '3',
    ];
    const processes: Proc[] = [];
    cleanup.push(async () => {
      for (const proc of processes) await proc.kill();
    });
    const coordinator = await startCoordinator(['--min-workers', '2', ...runArgs]);
    processes.push(coordinator);
    const port = coordinator.port;
    const workerA = startNamedWorker(port, 'worker-a');
    const workerB = startNamedWorker(port, 'worker-b');
    processes.push(workerA, workerB);

    const context = await launchChromium();
    cleanup.push(() => context.close());
    const page = await context.newPage();
    const pageErrors: string[] = [];
    const foreign: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    // The page logs a frame it refused (a protocol error) as a warning: none is expected.
    page.on('console', (message) => {
      if (message.type() === 'warning' || message.type() === 'error') {
        if (!message.text().includes('ERR_CONNECTION_REFUSED')) pageErrors.push(message.text());
      }
    });
    page.on('request', (request) => {
      if (!request.url().startsWith(`http://127.0.0.1:${port}/`)) foreign.push(request.url());
    });
    await page.goto(`http://127.0.0.1:${port}/`);

    // Training shows: the step counter and the loss chart grow.
    await page.waitForFunction(() => Number(document.body.dataset['step']) >= 5, null, { timeout: 30_000 });
    const early = await look(page);
    await page.waitForFunction((step) => Number(document.body.dataset['step']) >= step + 40, early.step, { timeout: 20_000 });
    const later = await look(page);
    expect(later.lossPoints).toBeGreaterThan(early.lossPoints);
    expect(shownStep(later.stepText)).toBeGreaterThan(shownStep(early.stepText));
    expect(later.connection).toBe('live');

    // Both workers are listed and live. NOTE: the table comes in its own record, at most
    // once a second, and on a quiet machine 40 steps can take less: wait for the rows.
    await page.waitForFunction(() => document.querySelectorAll('#workers-body tr').length >= 2, null, { timeout: 5_000 });
    const workers = (await look(page)).workers;
    expect(workers.map((row) => row.name).sort()).toEqual(['worker-a', 'worker-b']);
    expect(workers.every((row) => row.state === 'idle' || row.state === 'computing')).toBe(true);
    const idOfB = workers.find((row) => row.name === 'worker-b')!.id;

    // SIGKILL one worker: its row says gone, the other stays, and training goes on.
    await workerB.kill();
    await page.waitForFunction(
      (id) => document.querySelector<HTMLElement>(`#workers-body tr[data-worker-id="${id}"]`)?.dataset['state'] === 'gone',
      idOfB,
      { timeout: 10_000 },
    );
    const afterKill = await look(page);
    expect(afterKill.workers.find((row) => row.name === 'worker-a')!.state).not.toBe('gone');
    await page.waitForFunction((step) => Number(document.body.dataset['step']) >= step + 20, afterKill.step, { timeout: 20_000 });
    // Marks on the step axis: the two joins and the death.
    await page.waitForFunction(() => Number(document.querySelector<HTMLElement>('#loss-chart .uplot')?.dataset['marks']) >= 3, null, { timeout: 5_000 });
    // An epoch has ended: the confusion matrix and the misclassified digits are drawn.
    expect(await page.isVisible('#epoch-body')).toBe(true);
    expect(await page.locator('#misclassified canvas').count()).toBeGreaterThan(0);
    mkdirSync(join(ROOT, 'test-artifacts'), { recursive: true });
    await page.screenshot({ path: join(ROOT, 'test-artifacts', 'dashboard.png'), fullPage: true });

    // Stop the coordinator (Ctrl-C: it checkpoints), restart it with --resume on the same port.
    coordinator.child.kill('SIGINT');
    await coordinator.exited;
    // A stopped run is resumable: the page waits for it quietly (not a yellow "reconnecting…") and keeps trying.
    await page.waitForFunction(() => document.getElementById('connection')!.dataset['state'] === 'paused', null, { timeout: 10_000 });
    expect(await page.textContent('#connection')).toBe('waiting for --resume');
    const beforeRestart = await look(page);
    const resumed = await startCoordinator(['--port', String(port), '--resume', ...runArgs]);
    processes.push(resumed);
    processes.push(startNamedWorker(port, 'worker-c'));
    await page.waitForFunction((step) => Number(document.body.dataset['step']) > step + 10, beforeRestart.step, { timeout: 30_000 });
    // NOTE: worker rows come in their own periodic record, not with the steps: wait for the new one.
    await page.waitForFunction(
      () => [...document.querySelectorAll<HTMLElement>('#workers-body tr')].some((row) => row.textContent?.includes('worker-c')),
      null,
      { timeout: 10_000 },
    );
    const afterRestart = await look(page);
    expect(pageErrors).toEqual([]);
    expect(afterRestart.connection).toBe('live');
    // The same charts: everything drawn before the restart is still there, and more.
    expect(afterRestart.lossPoints).toBeGreaterThan(beforeRestart.lossPoints);
    expect(afterRestart.workers.map((row) => row.name)).toContain('worker-c');
    // The restart is marked too.
    expect(afterRestart.marks).toBeGreaterThan(beforeRestart.marks);
    await page.screenshot({ path: join(ROOT, 'test-artifacts', 'dashboard-resumed.png'), fullPage: true });

    expect(pageErrors).toEqual([]);
    expect(foreign).toEqual([]);
  }, 90_000);

  it('a coordinator with --token refuses the page without it (and says why), and serves it with ?token=', async () => {
    browser.check();
    const dir = tempDir('dashboard-token');
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const coordinator = await startCoordinator([
      '--token', 's3cret', '--model', writeSpec(dir, DASHBOARD_SPEC), '--kernels', 'ts', '--out', join(dir, 'run'),
      '--train-size', '500', '--validation-size', '100', '--test-size', '0', '--batch', '50', '--epochs', '1',
    ]);
    cleanup.push(() => coordinator.kill());
    const context = await launchChromium();
    cleanup.push(() => context.close());
    const page = await context.newPage();
    // Without the token the page itself is refused (every route but /health needs it), saying
    // how to open it; nothing of the run reaches the browser.
    const refused = await page.goto(`http://127.0.0.1:${coordinator.port}/`);
    expect(refused?.status()).toBe(401);
    expect(await page.textContent('body')).toMatch(/needs its token: open the dashboard as \/\?token=SECRET/);
    expect(await page.$('#run-id')).toBeNull();
    await page.goto(`http://127.0.0.1:${coordinator.port}/?token=s3cret`);
    await page.waitForFunction(() => document.getElementById('connection')!.dataset['state'] === 'live', null, { timeout: 10_000 });
    // NOTE: the badge turns live on the snapshot, the panels on the next batched redraw (at most 4/s).
    await page.waitForFunction(() => document.getElementById('run-id')!.textContent!.startsWith('run-'), null, { timeout: 5_000 });
    expect(await page.textContent('#run-id')).toMatch(/^run-/);
    expect(await page.textContent('#progress-phase')).toBe('waiting');
  }, 30_000);
});
