/**
 * The page at 800 px in a real browser, fed by the fake coordinator (a test fixture:
 * see fake-coordinator.ts): the workers table shows every cell's whole text (nothing
 * clipped, no ellipsis, no sideways scrolling), the two images/s say what they measure,
 * and the waiting page (a run with no step yet) says how many workers it waits for and
 * the exact command to join. Screenshots: test-artifacts/dashboard-800*.png.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { WorkerRow } from '../../packages/core/src/index.js';
import { fixtureHistory, runRecord, workerRow } from '../../packages/dashboard/src/testing/history-fixture.js';
import { startFakeCoordinator } from './fake-coordinator.js';
import { chromiumRequirement, launchChromium } from '../support/chromium.js';
import { ROOT } from '../support/processes.js';

const browser = chromiumRequirement('the dashboard at 800 px');
const cleanup: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const step of cleanup.reverse()) await step();
});

/** Rows as wide as real ones get: long names, big counters, megabytes. */
function wideRow(id: number, name: string): WorkerRow {
  return { ...workerRow(id, 'computing'), name, kernels: 'wasm', imagesPerSecond: 12_345, lastStepMs: 1234, sliceSize: 1024, bytesIn: 987_654_321_000, bytesOut: 123_456_789_000, heartbeatAgeMs: 12_300 };
}

interface Cell {
  text: string;
  scrollWidth: number;
  clientWidth: number;
  textOverflow: string;
}

describe.skipIf(browser.skip)('dashboard at 800 px', () => {
  it('the workers table: every visible cell shows its whole text; the images/s figures are labelled', async () => {
    browser.check(); // in CI: fails here, with the reason, when the browser is missing
    const history = { ...fixtureHistory(50), workers: [wideRow(1, 'local-1'), wideRow(2, 'gpu-box-in-the-basement-7f3a'), wideRow(12, 'laptop')] };
    const fake = await startFakeCoordinator(history, [], 1);
    cleanup.push(() => fake.close());
    const context = await launchChromium();
    cleanup.push(() => context.close());
    const page = await context.newPage();
    await page.setViewportSize({ width: 800, height: 1000 });
    await page.goto(`http://127.0.0.1:${fake.port}/`);
    await page.waitForFunction(() => document.querySelectorAll('#workers-body tr').length === 3, null, { timeout: 10_000 });
    const seen = await page.evaluate(() => {
      const visible = [...document.querySelectorAll<HTMLElement>('#workers th, #workers td')].filter((cell) => getComputedStyle(cell).display !== 'none');
      const box = document.querySelector<HTMLElement>('.table-box')!;
      return {
        cells: visible.map((cell) => ({ text: cell.textContent ?? '', scrollWidth: cell.scrollWidth, clientWidth: cell.clientWidth, textOverflow: getComputedStyle(cell).textOverflow })),
        headers: visible.filter((cell) => cell.tagName === 'TH').map((cell) => cell.textContent),
        boxScroll: box.scrollWidth - box.clientWidth,
        rowTitle: document.querySelector<HTMLElement>('#workers-body tr')!.title,
        headerRate: document.getElementById('progress-rate')!.parentElement!.textContent,
        headerRateTitle: document.getElementById('progress-rate')!.parentElement!.title,
      };
    });
    mkdirSync(join(ROOT, 'test-artifacts'), { recursive: true });
    await page.screenshot({ path: join(ROOT, 'test-artifacts', 'dashboard-800.png'), fullPage: true });
    const clipped = seen.cells.filter((cell: Cell) => cell.scrollWidth > cell.clientWidth || cell.textOverflow === 'ellipsis' || cell.text.includes('…'));
    expect(clipped).toEqual([]);
    // Fewer columns below 900 px: address, bytes and heartbeat move to the row's tooltip.
    expect(seen.headers).toEqual(['id', 'name', 'state', 'kernels', 'own images/s', 'last step', 'slice']);
    expect(seen.rowTitle).toBe('local-1 at 127.0.0.1:40001 · in 919.8 GB, out 115.0 GB');
    expect(seen.cells.map((cell: Cell) => cell.text)).toEqual(expect.arrayContaining(['gpu-box-in-the-basement-7f3a', 'computing', 'wasm', '12,345', '1234 ms', '1,024']));
    expect(seen.boxScroll).toBeLessThanOrEqual(0);
    expect(seen.headerRate).toContain('images/s (step)');
    expect(seen.headerRateTitle).toMatch(/global throughput/);

    // A wide window shows every column, still unclipped.
    await page.setViewportSize({ width: 1400, height: 1000 });
    const wide = await page.evaluate(() =>
      [...document.querySelectorAll<HTMLElement>('#workers th, #workers td')].map((cell) => ({ shown: getComputedStyle(cell).display !== 'none', clipped: cell.scrollWidth > cell.clientWidth })),
    );
    expect(wide.every((cell) => cell.shown && !cell.clipped)).toBe(true);
  }, 30_000);

  it('the link columns: round trip, bandwidth each way, the newest step\'s bytes per worker, the codec and the step\'s totals', async () => {
    browser.check(); // in CI: fails here, with the reason, when the browser is missing
    const base = fixtureHistory(50);
    const mb = 1024 * 1024;
    const lastStep = {
      ...base.steps.at(-1)!,
      bytesDown: Math.round(9.6 * mb),
      bytesUp: Math.round(2.4 * mb),
      links: [
        { workerId: 1, bytesDown: Math.round(4.8 * mb), bytesUp: Math.round(1.2 * mb), rttMs: 40.25, downMbps: 94.14, upMbps: 9.46 },
        { workerId: 2, bytesDown: Math.round(4.8 * mb), bytesUp: Math.round(1.2 * mb), rttMs: 4.5, downMbps: 1250, upMbps: 940.6 },
      ],
    };
    const rows: WorkerRow[] = [
      { ...wideRow(1, 'local-1'), rttMs: 40.25, downMbps: 94.14, upMbps: 9.46 },
      { ...wideRow(2, 'gpu-box-in-the-basement-7f3a'), rttMs: 4.5, downMbps: 1250, upMbps: 940.6 },
      // Not yet measured, and no traffic in the newest step.
      { ...wideRow(3, 'laptop'), rttMs: 0, downMbps: 0, upMbps: 0 },
    ];
    const history = { ...base, run: runRecord({ wire: 'topk' }), steps: [...base.steps.slice(0, -1), lastStep], workers: rows };
    const fake = await startFakeCoordinator(history, [], 1);
    cleanup.push(() => fake.close());
    const context = await launchChromium();
    cleanup.push(() => context.close());
    const page = await context.newPage();
    await page.setViewportSize({ width: 1400, height: 1000 });
    await page.goto(`http://127.0.0.1:${fake.port}/`);
    await page.waitForFunction(() => document.querySelectorAll('#workers-body tr').length === 3, null, { timeout: 10_000 });
    const seen = await page.evaluate(() => {
      const headers = [...document.querySelectorAll<HTMLElement>('#workers th')].map((cell) => cell.textContent);
      const column = (name: string) => headers.indexOf(name);
      const rows = [...document.querySelectorAll<HTMLTableRowElement>('#workers-body tr')];
      const cells = (name: string) => rows.map((row) => row.children[column(name)]!.textContent);
      const all = [...document.querySelectorAll<HTMLElement>('#workers th, #workers td')];
      return {
        roundTrip: cells('round trip'),
        bandwidth: cells('down / up'),
        bytes: cells('bytes/step'),
        summary: document.getElementById('links-summary')!.textContent,
        title: rows[0]!.title,
        clipped: all.filter((cell) => cell.scrollWidth > cell.clientWidth).map((cell) => cell.textContent),
        settings: document.getElementById('settings')!.textContent,
      };
    });
    await page.screenshot({ path: join(ROOT, 'test-artifacts', 'dashboard-links.png'), fullPage: true });
    expect(seen.roundTrip).toEqual(['40.3 ms', '4.5 ms', '–']);
    expect(seen.bandwidth).toEqual(['94.1 Mbit/s / 9.5 Mbit/s', '1.25 Gbit/s / 941 Mbit/s', '–']);
    expect(seen.bytes).toEqual(['4.8 MB / 1.2 MB', '4.8 MB / 1.2 MB', '–']);
    expect(seen.summary).toBe('wire topk · 9.6 MB down, 2.4 MB up per step');
    expect(seen.title).toBe('local-1 at 127.0.0.1:40001 · in 919.8 GB, out 115.0 GB · round trip 40.3 ms, down 94.1 Mbit/s, up 9.5 Mbit/s');
    expect(seen.clipped).toEqual([]);
    expect(seen.settings).toContain('wire codectopk');
  }, 30_000);

  it('the waiting page: how many workers it waits for, how many joined, the exact command to join', async () => {
    browser.check(); // in CI: fails here, with the reason, when the browser is missing
    const waiting = { ...fixtureHistory(0), run: runRecord({ minWorkers: 3, joinCommand: 'pnpm worker -- --connect ws://example.lan:8080' }), workers: [workerRow(1)] };
    const fake = await startFakeCoordinator(waiting, [], 1);
    cleanup.push(() => fake.close());
    const context = await launchChromium();
    cleanup.push(() => context.close());
    const page = await context.newPage();
    await page.setViewportSize({ width: 800, height: 1000 });
    await page.goto(`http://127.0.0.1:${fake.port}/`);
    await page.waitForFunction(() => !document.getElementById('waiting')!.hidden, null, { timeout: 10_000 });
    expect(await page.textContent('#waiting-title')).toBe('Waiting for 3 workers (1 joined)');
    expect(await page.textContent('#waiting-text')).toBe('Training starts when 3 workers have joined: 2 more needed.');
    expect(await page.textContent('#join-command')).toBe('pnpm worker -- --connect ws://example.lan:8080');
    expect(await page.textContent('#join-url')).toBe(`ws://127.0.0.1:${fake.port}`);
    await page.screenshot({ path: join(ROOT, 'test-artifacts', 'dashboard-800-waiting.png'), fullPage: true });

    // A run record without the coordinator's command (older records): built from the page's own address.
    const older = { ...fixtureHistory(0), run: runRecord(), workers: [] };
    const second = await startFakeCoordinator(older, [], 1);
    cleanup.push(() => second.close());
    await page.goto(`http://127.0.0.1:${second.port}/?token=abc`);
    await page.waitForFunction(() => !document.getElementById('waiting')!.hidden, null, { timeout: 10_000 });
    expect(await page.textContent('#waiting-title')).toBe('Waiting for workers');
    // The token itself is never shown (screenshots get shared): the command names the variable.
    expect(await page.textContent('#join-command')).toBe(`CONVOY_TOKEN=<token> pnpm worker -- --connect ws://127.0.0.1:${second.port}`);
  }, 30_000);
});
