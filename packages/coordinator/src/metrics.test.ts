/**
 * The metrics hub's memory is bounded however long the run: every epoch, the newest steps
 * in full, older steps thinned to an even stride, the newest events; the snapshot a new
 * dashboard gets still parses, and the summary's image count still covers every step.
 */
import { DEFAULT_LIMITS, parseMessage, type EpochRecord, type EventRecord, type StepRecord } from '@convoy/core';
import { describe, expect, it } from 'vitest';
import { METRICS_MEMORY, MetricsHub } from './metrics.js';

function step(step: number): StepRecord {
  return { kind: 'step', step, epoch: 1, loss: 2.3, accuracy: 0.1, images: 3, imagesSeen: 3 * step, imagesPerSecond: 100, learningRate: 0.1, stepMs: 1, workers: 1, time: step };
}

function event(index: number): EventRecord {
  return { kind: 'event', event: 'join', step: index, workerId: index, detail: `worker ${index}`, time: index };
}

function epoch(index: number): EpochRecord {
  return {
    kind: 'epoch', epoch: index, step: index, trainLoss: 1, trainAccuracy: 0.5, validationLoss: 1, validationAccuracy: 0.5,
    confusion: [], misclassified: [], elapsedSeconds: index, time: index,
  };
}

describe('MetricsHub memory', () => {
  it.each([1_000, 10_000, 100_000])('after %i steps: the newest in full, older ones thinned evenly, no more than the bound', (count) => {
    const hub = new MetricsHub();
    for (let i = 1; i <= count; i++) hub.publish(step(i));
    const kept = hub.steps.map((record) => record.step);
    expect(kept.length).toBeLessThanOrEqual(2 * METRICS_MEMORY.recentSteps + METRICS_MEMORY.olderSteps);
    // In order, ending at the newest, and the newest recentSteps all there.
    expect(kept).toEqual([...kept].sort((a, b) => a - b));
    expect(kept.at(-1)).toBe(count);
    const newest = Math.min(count, METRICS_MEMORY.recentSteps);
    expect(kept.slice(-newest)).toEqual(Array.from({ length: newest }, (_, i) => count - newest + i + 1));
    // Before those, one stride (a power of two) apart.
    const older = kept.filter((value) => value <= count - 2 * METRICS_MEMORY.recentSteps);
    if (older.length > 1) {
      const stride = older[1]! - older[0]!;
      expect(Math.log2(stride) % 1).toBe(0);
      for (const [i, value] of older.entries()) expect(value).toBe(older[0]! + i * stride);
      // Spread over the run, not bunched at its end.
      expect(older[0]!).toBeLessThanOrEqual(stride);
    }
    expect(hub.lastStep?.step).toBe(count);
    expect(hub.stepImages).toBe(3 * count);
  });

  it('keeps the newest events up to the cap, and every epoch', () => {
    const hub = new MetricsHub();
    for (let i = 1; i <= 3 * METRICS_MEMORY.events; i++) hub.publish(event(i));
    for (let i = 1; i <= 500; i++) hub.publish(epoch(i));
    expect(hub.events).toHaveLength(METRICS_MEMORY.events);
    expect(hub.events[0]!.step).toBe(2 * METRICS_MEMORY.events + 1);
    expect(hub.events.at(-1)!.step).toBe(3 * METRICS_MEMORY.events);
    expect(hub.epochs).toHaveLength(500);
  });

  it('a long run\'s snapshot parses as the page parses it', () => {
    const hub = new MetricsHub();
    for (let i = 1; i <= 50_000; i++) hub.publish(step(i));
    const snapshot = parseMessage(hub.snapshot(), DEFAULT_LIMITS);
    expect(snapshot.type === 'snapshot' && snapshot.steps.length).toBe(hub.steps.length);
  });

  it('per-worker links stay on the newest step only; the records emitted (history.jsonl) keep theirs', () => {
    const hub = new MetricsHub();
    const emitted: StepRecord[] = [];
    hub.on('record', (record) => record.kind === 'step' && emitted.push(record));
    const withLinks = (n: number): StepRecord => ({
      ...step(n), bytesDown: 200, bytesUp: 100,
      links: [{ workerId: 1, bytesDown: 120, bytesUp: 60, rttMs: 1, downMbps: 2, upMbps: 3 }, { workerId: 2, bytesDown: 80, bytesUp: 40, rttMs: 1, downMbps: 2, upMbps: 3 }],
    });
    for (let i = 1; i <= 3; i++) hub.publish(withLinks(i));
    expect(hub.steps.map((record) => record.links?.length ?? 0)).toEqual([0, 0, 2]);
    expect(hub.steps.map((record) => record.bytesDown)).toEqual([200, 200, 200]);
    expect(emitted.map((record) => record.links?.length)).toEqual([2, 2, 2]);
  });

  it('restore() leaves out the run and end records (a resumed run publishes its own, and has not ended)', () => {
    const hub = new MetricsHub();
    hub.restore([step(1), { kind: 'end', reason: 'stopped', step: 1, detail: 'stopped', time: 2 }, event(1)]);
    expect(hub.end).toBeNull();
    expect(hub.steps).toHaveLength(1);
    expect(hub.events).toHaveLength(1);
  });
});
