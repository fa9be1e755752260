import type { TimingRecord } from '@convoy/core';
import { describe, expect, it } from 'vitest';
import { chromeTrace, latestPerStep, type TraceEvent } from './trace-events.js';

const phases = { previousEncodeMs: 0.3, previousSendMs: 0.2, waitMs: 1, cpuPercent: 95.04, rssBytes: 150_000_000 };

/** Step `step` at `startTime`: worker 1 back at 20.123 ms, worker 2 at 47.777 ms; odd fractions to exercise the rounding. */
function record(step: number, startTime: number, stepMs = 51.3333): TimingRecord {
  return {
    kind: 'timing', step, startTime, stepMs, waitMs: 48.1111, sumMs: 0.7777, optimizerMs: 2.1111, publishMs: stepMs - 48.1111 - 0.7777 - 2.1111,
    workers: [
      { workerId: 1, images: 40, sentMs: 0.1234, arrivedMs: 20.123, decodeMs: 0.4567, computeMs: 17.8912, phases },
      { workerId: 2, images: 24, sentMs: 0.3456, arrivedMs: 47.777, decodeMs: 0.3333, computeMs: 45.1, phases: null },
    ],
  };
}

const slices = (events: readonly TraceEvent[], tid: number) => events.filter((event) => event.ph === 'X' && event.tid === tid);

describe('chromeTrace', () => {
  // Steps 1-3, then a resumed run repeating step 3 (its line wins) and going on to 4.
  const records = [record(1, 1_000), record(2, 1_052.5), record(3, 1_104.25, 60), record(3, 9_000.5), record(4, 9_052)];
  const trace = chromeTrace('run-a', records);

  it('keeps the last record of a step written twice (a resumed run), in step order', () => {
    expect(latestPerStep(records).map((entry) => [entry.step, entry.startTime])).toEqual([[1, 1_000], [2, 1_052.5], [3, 9_000.5], [4, 9_052]]);
    expect(trace.otherData.steps).toBe(4);
  });

  it('microseconds from the first step; the coordinator phases nest inside their step', () => {
    const coordinator = slices(trace.traceEvents, 0);
    const steps = coordinator.filter((event) => event.name.startsWith('step '));
    expect(steps.map((event) => event.ts)).toEqual([0, 52_500, 8_000_500, 8_052_000]);
    for (const step of steps) {
      const inside = coordinator.filter((event) => !event.name.startsWith('step ') && event.args?.['step'] === step.args?.['step']);
      expect(inside).toHaveLength(4);
      for (const phase of inside) {
        expect(phase.ts!).toBeGreaterThanOrEqual(step.ts!);
        expect(phase.ts! + phase.dur!).toBeLessThanOrEqual(step.ts! + step.dur! + 1e-6);
      }
    }
  });

  it("a worker's slices follow each other without overlap and cover its step", () => {
    for (const tid of [1, 2]) {
      const track = slices(trace.traceEvents, tid);
      for (let i = 1; i < track.length; i++) expect(track[i]!.ts!).toBeGreaterThanOrEqual(track[i - 1]!.ts! + track[i - 1]!.dur! - 1e-6);
      const first = track.filter((event) => event.args?.['step'] === 1);
      expect(first.reduce((sum, event) => sum + event.dur!, 0)).toBeCloseTo(51_333.3, 1);
    }
  });

  it('arrival ticks, counters for reporting workers only, and the straggler', () => {
    const ticks = trace.traceEvents.filter((event) => event.ph === 'i');
    expect(ticks.map((event) => [event.tid, event.ts])).toEqual([
      [1, 20.123 * 1000], [2, 47.777 * 1000], [1, 52_500 + 20_123], [2, 52_500 + 47_777],
      [1, 8_000_500 + 20_123], [2, 8_000_500 + 47_777], [1, 8_052_000 + 20_123], [2, 8_052_000 + 47_777],
    ]);
    const cpu = trace.traceEvents.filter((event) => event.ph === 'C' && event.name === 'worker CPU %');
    expect(cpu.map((event) => event.args)).toEqual(Array.from({ length: 4 }, () => ({ 'worker 1': 95 })));
    expect(trace.otherData.straggler?.workerId).toBe(2);
  });
});
