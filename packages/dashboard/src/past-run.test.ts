import { describe, expect, it } from 'vitest';
import { historyToJson } from './history-export.js';
import { parseHistoryDocument, parseHistoryJsonl } from './past-run.js';
import { START_TIME, epochRecord, eventRecord, runRecord, stepRecord } from './testing/history-fixture.js';

/** A line of history.jsonl as the coordinator writes it (persistence.ts: pixels left out). */
function line(record: object): string {
  return JSON.stringify(record, (key, value) => (key === 'pixels' ? undefined : value));
}

describe('parseHistoryJsonl', () => {
  it('folds a resumed run: the newest run record, every step once, the stop before the resume forgotten', () => {
    const text = [
      line(runRecord()),
      ...[1, 2, 3].map((step) => line(stepRecord(step))),
      line({ kind: 'end', reason: 'stopped', step: 3, detail: 'Ctrl-C', time: START_TIME + 400 }),
      line(runRecord({ resumedFromStep: 3, runId: 'resumed' })),
      line(eventRecord('coordinator-restart', 3, null, 'resumed from step 3')),
      ...[4, 5].map((step) => line(stepRecord(step))),
      '',
    ].join('\n');
    const history = parseHistoryJsonl(text);
    expect(history.run!.runId).toBe('resumed');
    expect(history.steps.map((step) => step.step)).toEqual([1, 2, 3, 4, 5]);
    expect(history.end).toBeNull();
    expect(history.events.map((event) => event.event)).toEqual(['coordinator-restart']);
    expect(history.steps[4]!.learningRate).toBe(0.1);
  });

  it('an epoch keeps its misclassified labels without pixels; a torn last line is left out; a bad line is named', () => {
    const epoch = line(epochRecord(1, 10));
    const history = parseHistoryJsonl(`${line(runRecord())}\n${epoch}\n{"kind":"step","st`);
    expect(history.epochs[0]!.misclassified).toEqual([{ index: 59_917, label: 1, predicted: 7, pixels: new Uint8Array(0) }]);
    expect(history.steps).toEqual([]);
    expect(() => parseHistoryJsonl(`${line(runRecord())}\nnot json\n`)).toThrow('history.jsonl line 2 is not JSON');
    expect(() => parseHistoryJsonl(`${line({ ...stepRecord(1), loss: -1 })}\n`)).toThrow(/history.jsonl line 1: .*loss/);
    expect(() => parseHistoryJsonl(`${line({ ...epochRecord(1, 10), misclassified: [{ index: 1, label: 300, predicted: 2 }] })}\n`)).toThrow(/line 1: misclassified\[0\]\.label/);
  });
});

describe('parseHistoryDocument', () => {
  it('reads back what historyToJson wrote (the page reads /runs/NAME/history.json so)', () => {
    const history = {
      run: runRecord(),
      steps: [1, 2].map((step) => stepRecord(step)),
      epochs: [epochRecord(1, 2)],
      test: { kind: 'test' as const, step: 2, loss: 0.5, accuracy: 0.75, count: 100, time: START_TIME + 500 },
      workers: [],
      events: [eventRecord('join', 0, 1, 'local-1')],
      end: { kind: 'end' as const, reason: 'finished' as const, step: 2, detail: '', time: START_TIME + 600 },
    };
    const read = parseHistoryDocument(JSON.parse(historyToJson(history)));
    expect(read).toEqual({ ...history, epochs: [{ ...history.epochs[0]!, misclassified: [{ index: 59_917, label: 1, predicted: 7, pixels: new Uint8Array(0) }] }] });
    expect(() => parseHistoryDocument({ format: 'other' })).toThrow('not a convoy-history document');
    expect(() => parseHistoryDocument({ ...JSON.parse(historyToJson(history)), steps: [{ kind: 'step' }] })).toThrow(/history record 1/);
  });
});
