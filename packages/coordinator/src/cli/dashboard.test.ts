/**
 * The dashboard's downloads (/history.json, /history.csv, history.svg) hold the whole run,
 * read from history.jsonl, though the metrics hub keeps only a bounded, thinned copy.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EventRecord, StepRecord } from '@convoy/core';
import { parseHistoryJsonl } from '@convoy/dashboard';
import { describe, expect, it } from 'vitest';
import { METRICS_MEMORY, MetricsHub } from '../metrics.js';
import { fullHistory } from './dashboard.js';

function step(step: number): StepRecord {
  return { kind: 'step', step, epoch: 1, loss: 2.3, accuracy: 0.1, images: 3, imagesSeen: 3 * step, imagesPerSecond: 100, learningRate: 0.1, stepMs: 1, workers: 1, time: step };
}

function event(index: number): EventRecord {
  return { kind: 'event', event: 'join', step: index, workerId: index, detail: `worker ${index}`, time: index };
}

describe('the downloads\' history', () => {
  it('has every step and event of history.jsonl beyond what the hub keeps, and the hub\'s workers', () => {
    const steps = 4 * (2 * METRICS_MEMORY.recentSteps + METRICS_MEMORY.olderSteps);
    const events = 3 * METRICS_MEMORY.events;
    const hub = new MetricsHub();
    const lines: string[] = [];
    hub.on('record', (record) => lines.push(JSON.stringify(record)));
    for (let i = 1; i <= steps; i++) hub.publish(step(i));
    for (let i = 1; i <= events; i++) hub.publish(event(i));
    hub.publish({ kind: 'workers', workers: [], time: 1 });
    const path = join(mkdtempSync(join(tmpdir(), 'convoy-downloads-')), 'history.jsonl');
    writeFileSync(path, `${lines.join('\n')}\n`);

    expect(hub.steps.length).toBeLessThan(steps);
    const history = fullHistory(hub, path, parseHistoryJsonl);
    expect(history.steps.map((record) => record.step)).toEqual(Array.from({ length: steps }, (_, i) => i + 1));
    expect(history.events).toHaveLength(events);
    expect(history.workers).toBe(hub.workers);
    // No parser (no dashboard package) or no file: the hub's own copy.
    expect(fullHistory(hub, path, undefined).steps).toHaveLength(hub.steps.length);
    expect(fullHistory(hub, `${path}.missing`, parseHistoryJsonl).steps).toHaveLength(hub.steps.length);
  });
});
