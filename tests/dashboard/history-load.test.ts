/**
 * /history.json of a long run (25,600 steps, ~7 MB) asked 20 times at once while the run
 * trains on the same thread (history-server.ts): the downloads share one build, so the
 * server spends little CPU on them beyond its training (under 1 s). Building per request cost 20 builds
 * of ~0.1 s each, back to back, on the training thread.
 *
 * NOTE: measured in CPU time of the server process (from /proc), not only in steps/s: on
 * a shared machine the wall-clock rate also moves with everyone else's load, and this test's
 * own process is busiest during the burst (it reads the 20 answers).
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, run, type Proc } from '../support/processes.js';

const started: Proc[] = [];
afterAll(() => started.forEach((proc) => proc.child.kill('SIGKILL')));

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** CPU seconds a process has used (user + system; Linux /proc, 100 ticks a second). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // utime and stime are fields 14 and 15 of the line, 12 and 13 after "pid (name) ".
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

describe('/history.json under parallel requests', () => {
  it('20 parallel requests of a 25,600-step history during a run: the training thread loses under 1 s of CPU to them', async () => {
    const server = run(`${ROOT}tests/dashboard/history-server.ts`, ['--steps', '25600']);
    started.push(server);
    const port = Number((await server.waitFor(/listening (\d+)/))[1]);
    const stepsDone = async () => Number(await (await fetch(`http://127.0.0.1:${port}/steps`)).text());
    /** Steps, CPU seconds and wall seconds between two calls. */
    const window = async () => {
      const steps = await stepsDone();
      const cpu = cpuSeconds(server.pid);
      const wall = Date.now();
      return async () => ({ steps: (await stepsDone()) - steps, cpu: cpuSeconds(server.pid) - cpu, seconds: (Date.now() - wall) / 1000 });
    };

    await sleep(1_000);
    const endBaseline = await window();
    await sleep(3_000);
    const baseline = await endBaseline();
    const cpuPerStep = baseline.cpu / baseline.steps;

    const endBurst = await window();
    const sizes = await Promise.all(
      Array.from({ length: 20 }, async () => (await (await fetch(`http://127.0.0.1:${port}/history.json`)).arrayBuffer()).byteLength),
    );
    const burst = await endBurst();
    // What the server spent beyond training the steps it trained meanwhile: building and sending the 20 answers.
    const downloadCpu = burst.cpu - burst.steps * cpuPerStep;
    console.log(
      `history load: ${(sizes[0]! / 2 ** 20).toFixed(1)} MB x 20 in ${burst.seconds.toFixed(1)} s; training ${(baseline.steps / baseline.seconds).toFixed(0)} steps/s alone, ` +
        `${(burst.steps / burst.seconds).toFixed(0)} steps/s during the burst; the downloads cost the server ${downloadCpu.toFixed(2)} s of CPU`,
    );
    expect(Math.min(...sizes)).toBeGreaterThan(5 * 2 ** 20);
    expect(downloadCpu).toBeLessThan(1);
  }, 60_000);
});
