/**
 * The page with a long run, in a real browser: a snapshot of 20,000 steps, then 2,000
 * more at 800 a second from a fake coordinator (a test fixture: see fake-coordinator.ts).
 * The charts hold a bounded number of points, the page redraws at most about four times
 * a second however fast records come, no redraw is slow, and nothing moves as numbers change.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { fixtureHistory, runRecord, stepRecord } from '../../packages/dashboard/src/testing/history-fixture.js';
import { startFakeCoordinator, type FakeCoordinator } from './fake-coordinator.js';
import { chromiumRequirement, launchChromium } from '../support/chromium.js';

const browser = chromiumRequirement('the dashboard long-run test');
const cleanup: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const step of cleanup.reverse()) await step();
});

describe.skipIf(browser.skip)('dashboard with a long run', () => {
  it('20,000-step snapshot + 2,000 live steps at 800/s: bounded points, at most ~4 redraws a second, each fast', async () => {
    browser.check();
    const history = { ...fixtureHistory(20_000, 1_000), run: runRecord({ epochs: 22, stepsPerEpoch: 1_000, totalSteps: 22_000 }) };
    const live = Array.from({ length: 2_000 }, (_, i) => stepRecord(20_001 + i, 1_000));
    const fake: FakeCoordinator = await startFakeCoordinator(history, live, 800);
    cleanup.push(() => fake.close());
    const context = await launchChromium();
    cleanup.push(() => context.close());
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (message) => message.type() === 'warning' && pageErrors.push(message.text()));

    // Layout Instability API: the sum of every layout shift the page makes (Chromium).
    await page.addInitScript(() => {
      const counter = window as unknown as { layoutShift: number };
      counter.layoutShift = 0;
      new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) counter.layoutShift += (entry as unknown as { value: number }).value;
      }).observe({ type: 'layout-shift', buffered: true });
    });
    await page.goto(`http://127.0.0.1:${fake.port}/`);
    await page.waitForFunction(() => Number(document.body.dataset['step']) >= 20_000, null, { timeout: 15_000 });
    const rendersAt = async () => Number(await page.evaluate(() => document.body.dataset['renders']));
    const layoutShift = () => page.evaluate(() => (window as unknown as { layoutShift: number }).layoutShift);
    await page.waitForTimeout(300); // the first live redraw after the snapshot's
    const before = await rendersAt();
    const shiftBefore = await layoutShift();
    await page.waitForTimeout(2_000);
    const during = (await rendersAt()) - before;
    // Only numbers and curves change while steps stream in: nothing on the page may move.
    expect(await layoutShift()).toBeLessThan(shiftBefore + 0.001);
    // Records arrive every 10 ms; redraws are RENDER_INTERVAL_MS = 250 ms apart: 8 in 2 s (+1 for timer phase).
    expect(during).toBeGreaterThanOrEqual(4);
    expect(during).toBeLessThanOrEqual(9);
    await page.waitForFunction(() => Number(document.body.dataset['step']) >= 22_000, null, { timeout: 15_000 });
    const seen = await page.evaluate(() => ({
      points: Number(document.body.dataset['lossPoints']),
      slowest: Number(document.body.dataset['slowestRenderMs']),
      stepText: document.getElementById('progress-step')!.textContent,
      runId: document.getElementById('run-id')!.textContent,
    }));
    expect(pageErrors).toEqual([]);
    // SERIES_DEFAULTS.maxPoints (4,000) per series, plus the 22 validation steps.
    expect(seen.points).toBeLessThan(4_000 + 22);
    expect(seen.points).toBeGreaterThan(1_500);
    expect(seen).toMatchObject({ stepText: '22,000 / 22,000', runId: 'fixture-run' });
    console.log(`long run: ${seen.points} points on the loss chart, slowest redraw ${seen.slowest} ms, ${during} redraws in 2 s`);
    expect(seen.slowest).toBeLessThan(250);
  }, 60_000);
});
