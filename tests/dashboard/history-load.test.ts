/**
 * /history.json of a long run (25,600 steps, ~9 MB) asked 20 times at once while the run
 * trains on the same thread (history-server.ts): the downloads share one build, so the
 * training rate over the burst stays at least half its rate without requests. Building it
 * per request cut it to a small fraction (20 builds of a few hundred ms, back to back).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, run, type Proc } from '../support/processes.js';

const started: Proc[] = [];
afterAll(() => started.forEach((proc) => proc.child.kill('SIGKILL')));

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('/history.json under parallel requests', () => {
  it('20 parallel requests of a 25,600-step history during a run: training keeps at least half its rate', async () => {
    const server = run(`${ROOT}tests/dashboard/history-server.ts`, ['--steps', '25600']);
    started.push(server);
    const port = Number((await server.waitFor(/listening (\d+)/))[1]);
    const stepsDone = async () => Number(await (await fetch(`http://127.0.0.1:${port}/steps`)).text());

    await sleep(1_000);
    const baselineFrom = await stepsDone();
    const baselineStarted = Date.now();
    await sleep(2_000);
    const baselineRate = (await stepsDone() - baselineFrom) / ((Date.now() - baselineStarted) / 1000);

    const burstFrom = await stepsDone();
    const burstStarted = Date.now();
    const sizes = await Promise.all(
      Array.from({ length: 20 }, async () => (await (await fetch(`http://127.0.0.1:${port}/history.json`)).arrayBuffer()).byteLength),
    );
    const burstMs = Date.now() - burstStarted;
    // The window is the burst plus a second after it, so time the burst stole is not hidden by a short window.
    await sleep(1_000);
    const burstRate = (await stepsDone() - burstFrom) / ((Date.now() - burstStarted) / 1000);
    console.log(
      `history load: ${(sizes[0]! / 2 ** 20).toFixed(1)} MB x 20 in ${burstMs} ms; training ${baselineRate.toFixed(0)} steps/s alone, ` +
        `${burstRate.toFixed(0)} steps/s over the burst and 1 s after (${((100 * burstRate) / baselineRate).toFixed(0)}%)`,
    );
    expect(Math.min(...sizes)).toBeGreaterThan(5 * 2 ** 20);
    expect(burstRate).toBeGreaterThan(0.5 * baselineRate);
  }, 60_000);
});
