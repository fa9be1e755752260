/**
 * The end of a run and the runs folder, in a real browser with real processes: a page
 * watching a run that finishes shows it as over, with no reconnecting badge, and opens no
 * further connection once the coordinator has exited; a second coordinator in the same
 * runs folder lists both runs at /runs, and /runs/NAME/ shows the first from its
 * history.jsonl (its steps, its test accuracy, its learning rate), while / of the second
 * is the waiting page. Screenshot: test-artifacts/dashboard-past-run.png.
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeSpec } from '../distributed/helpers.js';
import { chromiumRequirement, launchChromium } from '../support/chromium.js';
import { ROOT, startCoordinator, startWorker, tempDir, type Proc } from '../support/processes.js';

const browser = chromiumRequirement('the runs-folder browser test');
const cleanup: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const step of cleanup.reverse()) await step();
});

describe.skipIf(browser.skip)('dashboard: a finished run, and the runs folder', () => {
  it('a finished run is final (no reconnect); /runs lists the runs; /runs/NAME/ shows a past one', async () => {
    browser.check(); // in CI: fails here, with the reason, when the browser is missing
    const dir = tempDir('dashboard-runs');
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const runs = join(dir, 'runs');
    const processes: Proc[] = [];
    cleanup.push(async () => {
      for (const proc of processes) await proc.kill();
    });
    const runArgs = [
      '--model', writeSpec(dir), '--kernels', 'ts', '--train-size', '640', '--validation-size', '100', '--test-size', '200',
      '--batch', '32', '--epochs', '2', '--optimizer', 'adam', '--lr', '0.003', '--lr-schedule', 'step', '--seed', '5',
    ];
    const first = await startCoordinator(['--port', '0', '--min-workers', '1', '--out', join(runs, 'first'), ...runArgs]);
    processes.push(first);
    const context = await launchChromium();
    cleanup.push(() => context.close());
    const page = await context.newPage();
    const sockets: string[] = [];
    page.on('websocket', (socket) => sockets.push(socket.url()));
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(`http://127.0.0.1:${first.port}/`);
    await page.waitForFunction(() => document.getElementById('connection')!.dataset['state'] === 'live', null, { timeout: 10_000 });
    processes.push(startWorker(first.url, ['--kernels', 'auto', '--name', 'worker-a']));

    // The run finishes and its coordinator exits: the page says so, and stays so.
    await first.exited;
    await page.waitForFunction(() => document.getElementById('connection')!.dataset['state'] === 'over', null, { timeout: 10_000 });
    const opened = sockets.length;
    // Before the fix the first retry came 500 ms after the close, then every 0.75-5 s.
    await page.waitForTimeout(3_000);
    const after = await page.evaluate(() => ({
      connection: document.getElementById('connection')!.dataset['state'],
      badge: document.getElementById('connection')!.textContent,
      phase: document.getElementById('progress-phase')!.textContent,
      test: document.getElementById('progress-test')!.textContent,
      step: document.body.dataset['step'],
    }));
    expect(sockets.length).toBe(opened);
    expect(after).toMatchObject({ connection: 'over', badge: 'run over', phase: 'finished' });
    expect(after.test).toMatch(/^\d+\.\d\d%$/);
    expect(after.step).toBe('40'); // 2 epochs of 640 / 32

    // A second run in the same runs folder, waiting for its worker.
    const second = await startCoordinator(['--port', '0', '--min-workers', '2', '--out', join(runs, 'second'), ...runArgs]);
    processes.push(second);
    await page.goto(`http://127.0.0.1:${second.port}/`);
    await page.waitForFunction(() => !document.getElementById('waiting')!.hidden, null, { timeout: 10_000 });
    // The coordinator's own command when its run record carries one, else built from the page's address: either names this port.
    expect(await page.textContent('#join-command')).toMatch(new RegExp(`^(CONVOY_TOKEN=\\S+ )?pnpm .*--connect wss?://\\S+:${second.port}$`));
    expect(await page.textContent('#waiting-title')).toMatch(/^Waiting for (2 workers \(0 joined\)|workers)$/);

    await page.goto(`http://127.0.0.1:${second.port}/runs`);
    const listed = await page.$$eval('#runs tbody tr', (rows) => rows.map((row) => [...row.querySelectorAll('td')].map((cell) => cell.textContent)));
    const byName = new Map(listed.map((cells) => [cells[0], cells]));
    expect([...byName.keys()].sort()).toEqual(['first', 'second']);
    expect(byName.get('first')![2]).toBe('finished');
    expect(byName.get('first')![3]).toBe('40');
    expect(byName.get('second')![2]).toBe('current run (live)');

    await page.click('#runs a:text-is("first")');
    await page.waitForFunction(() => document.body.dataset['pastRun'] === 'loaded' && Number(document.body.dataset['step']) === 40, null, { timeout: 10_000 });
    expect(new URL(page.url()).pathname).toBe('/runs/first/');
    const past = await page.evaluate(() => ({
      badge: document.getElementById('connection')!.textContent,
      phase: document.getElementById('progress-phase')!.textContent,
      test: document.getElementById('progress-test')!.textContent,
      runFolder: [...document.querySelectorAll('#settings dd')].at(-2)!.textContent,
      lossPoints: Number(document.body.dataset['lossPoints']),
      waitingHidden: document.getElementById('waiting')!.hidden,
      csv: document.querySelector<HTMLAnchorElement>('#download-csv')!.href,
    }));
    expect(past).toMatchObject({ badge: 'past run', phase: 'finished', test: after.test, waitingHidden: true });
    expect(past.runFolder).toBe(join(runs, 'first'));
    expect(past.lossPoints).toBeGreaterThanOrEqual(40);
    expect(past.csv).toBe(`http://127.0.0.1:${second.port}/runs/first/history.csv`);
    // The learning rate chart reads out the rate the run's last step applied (its schedule decays it per epoch).
    const steps = readFileSync(join(runs, 'first', 'history.jsonl'), 'utf8').split('\n').filter((line) => line.includes('"kind":"step"'));
    const lastRate = (JSON.parse(steps.at(-1)!) as { learningRate: number }).learningRate;
    expect(await page.evaluate(() => document.querySelector('#lr-chart .u-legend')!.textContent)).toContain(`learning rate${lastRate.toPrecision(4)}`);
    mkdirSync(join(ROOT, 'test-artifacts'), { recursive: true });
    await page.screenshot({ path: join(ROOT, 'test-artifacts', 'dashboard-past-run.png'), fullPage: true });

    // The past run's downloads are its own history: 40 step rows, as many as its history.jsonl holds.
    const csv = await (await page.request.get(past.csv)).text();
    expect(csv.split('\r\n').filter((line) => line.startsWith('step,')).length).toBe(steps.length);
    expect(steps.length).toBe(40);
    // A name that is not a run folder (traversal attempts: packages/dashboard/src/runs.test.ts, with raw requests).
    expect((await page.request.get(`http://127.0.0.1:${second.port}/runs/nothing/history.json`)).status()).toBe(404);
    expect(pageErrors).toEqual([]);
  }, 90_000);
});
