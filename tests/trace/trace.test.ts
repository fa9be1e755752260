/**
 * `convoy trace RUN` on a real small run: a coordinator and two worker processes, one slowed
 * with --chaos-delay. The Chrome trace must hold every step on the coordinator's track and on
 * every worker's, phases that add up to the step, an arrival tick per answer, CPU and memory
 * counters, and name the slowed worker as the straggler.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { smallRunArgs, stepRecords, writeSpec } from '../distributed/helpers.js';
import { CONVOY_CLI, run, startCoordinator, startWorker, tempDir, type Proc } from '../support/processes.js';

const STEPS = 12;
/** The slowed worker blocks this long before each answer (a step of the small model takes a few ms). */
const DELAY_MS = 80;
/**
 * How far a track's phases may miss the step's duration: times are rounded to 1 us per event
 * (up to ~10 events a row), and a worker's clock and the coordinator's tick at slightly
 * different rates: 0.05 ms plus 1%.
 */
const toleranceMs = (stepMs: number): number => 0.05 + 0.01 * stepMs;

interface Event {
  name: string;
  ph: string;
  tid: number;
  ts?: number;
  dur?: number;
  args?: Record<string, unknown>;
}

const dir = tempDir('trace');
const out = join(dir, 'run');
const started: Proc[] = [];
let trace: { traceEvents: Event[]; otherData: { straggler: { workerId: number; score: number } | null; workers: number[] } };
let slowId = 0;
let traceOutput = '';

afterAll(() => started.forEach((proc) => proc.child.kill('SIGKILL')));

beforeAll(async () => {
  const coordinator = await startCoordinator(smallRunArgs(writeSpec(dir), out, ['--max-steps', String(STEPS), '--min-workers', '2']));
  started.push(coordinator);
  const fast = startWorker(coordinator.url, ['--name', 'fast']);
  started.push(fast);
  // Joins second, so it is worker 2 (ids count joins from 1).
  await coordinator.waitFor(/\[join\] worker 1/, 30_000);
  const slow = startWorker(coordinator.url, ['--name', 'slow', '--chaos-delay', String(DELAY_MS)]);
  started.push(slow);
  expect(await coordinator.exited, coordinator.output()).toBe(0);
  const history = readFileSync(join(out, 'history.jsonl'), 'utf8');
  const join_ = history.split('\n').filter((line) => line.includes('"event":"join"')).map((line) => JSON.parse(line) as { workerId: number; detail: string });
  slowId = join_.find((event) => event.detail.includes('slow'))?.workerId ?? 0;
  const convoy = run(CONVOY_CLI, ['trace', out, '--out', join(dir, 'trace.json')]);
  expect(await convoy.exited, convoy.output()).toBe(0);
  traceOutput = convoy.stdout();
  trace = JSON.parse(readFileSync(join(dir, 'trace.json'), 'utf8'));
}, 120_000);

describe('convoy trace', () => {
  it('names the process, the coordinator track and one track per worker', () => {
    const names = trace.traceEvents.filter((event) => event.ph === 'M' && event.name === 'thread_name').map((event) => [event.tid, event.args?.['name']]);
    expect(names).toEqual([[0, 'coordinator'], [1, 'worker 1'], [2, 'worker 2']]);
    expect(trace.traceEvents.some((event) => event.ph === 'M' && event.name === 'process_name')).toBe(true);
    expect(slowId).toBeGreaterThan(0);
  });

  it('every step on the coordinator track, its phases adding up to the step', () => {
    expect(stepRecords(out)).toHaveLength(STEPS);
    const steps = trace.traceEvents.filter((event) => event.ph === 'X' && event.tid === 0 && event.name.startsWith('step '));
    expect(steps.map((event) => event.args?.['step'])).toEqual(Array.from({ length: STEPS }, (_, i) => i + 1));
    for (const step of steps) {
      const phases = trace.traceEvents.filter((event) => event.ph === 'X' && event.tid === 0 && !event.name.startsWith('step ') && event.args?.['step'] === step.args?.['step']);
      expect(phases.map((event) => event.name)).toEqual(['wait for answers', 'sum', 'optimizer', 'publish']);
      const total = phases.reduce((sum, event) => sum + event.dur!, 0);
      expect(Math.abs(total - step.dur!) / 1000).toBeLessThanOrEqual(toleranceMs(step.dur! / 1000));
      // Nested: the phases lie inside the step, back to back.
      expect(phases[0]!.ts).toBeCloseTo(step.ts!, 0);
    }
  });

  it('every worker in every step: its phases add up to the step, one arrival tick per answer', () => {
    const steps = trace.traceEvents.filter((event) => event.ph === 'X' && event.tid === 0 && event.name.startsWith('step '));
    for (const workerId of [1, 2]) {
      for (const step of steps) {
        const number = step.args?.['step'];
        const phases = trace.traceEvents.filter((event) => event.ph === 'X' && event.tid === workerId && event.args?.['step'] === number);
        expect(phases.map((event) => event.name)).toContain('compute');
        const total = phases.reduce((sum, event) => sum + event.dur!, 0);
        expect(Math.abs(total - step.dur!) / 1000, `worker ${workerId} step ${String(number)}`).toBeLessThanOrEqual(toleranceMs(step.dur! / 1000));
        for (const phase of phases) {
          expect(phase.ts!).toBeGreaterThanOrEqual(step.ts! - 1);
          expect(phase.ts! + phase.dur!).toBeLessThanOrEqual(step.ts! + step.dur! + 1000 * toleranceMs(step.dur! / 1000));
        }
        const ticks = trace.traceEvents.filter((event) => event.ph === 'i' && event.tid === workerId && event.args?.['step'] === number);
        expect(ticks).toHaveLength(1);
      }
    }
    // The slowed worker's compute holds its delay.
    const slowCompute = trace.traceEvents.filter((event) => event.ph === 'X' && event.tid === slowId && event.name === 'compute');
    expect(Math.min(...slowCompute.map((event) => event.dur!))).toBeGreaterThanOrEqual(DELAY_MS * 1000 * 0.95);
  });

  it('CPU and memory counters for the workers', () => {
    const cpu = trace.traceEvents.filter((event) => event.ph === 'C' && event.name === 'worker CPU %');
    const rss = trace.traceEvents.filter((event) => event.ph === 'C' && event.name === 'worker RSS MB');
    expect(cpu).toHaveLength(STEPS);
    expect(rss).toHaveLength(STEPS);
    for (const event of rss) for (const value of Object.values(event.args!)) expect(value as number).toBeGreaterThan(20); // a Node process holds tens of MB
    for (const event of cpu) for (const value of Object.values(event.args!)) expect(value as number).toBeGreaterThanOrEqual(0);
  });

  it('names the slowed worker as the straggler', () => {
    expect(trace.otherData.straggler?.workerId).toBe(slowId);
    // Its step time against the fastest's: above 1 (how far above depends on the load the fast worker meets).
    expect(trace.otherData.straggler!.score).toBeGreaterThan(1);
    expect(traceOutput).toContain(`straggler: worker ${slowId}`);
  });

  it('a bad RUN path: one line on stderr, exit code 2, no stack trace', async () => {
    for (const target of [join(dir, 'nowhere'), join(dir, 'trace.json'), dir]) {
      const convoy = run(CONVOY_CLI, ['trace', target]);
      expect(await convoy.exited).toBe(2);
      const lines = convoy.stderr().trim().split('\n');
      expect(lines, convoy.stderr()).toHaveLength(1);
      expect(lines[0]).toMatch(/^convoy: /);
      expect(convoy.stderr()).not.toMatch(/\n\s+at /);
    }
  });
});
