/**
 * The run's history as files to download (the page's CSV and JSON buttons) and to keep:
 * one CSV row per step, epoch, test and event record; JSON holding every record.
 * Misclassified images lose their pixels (they are in the dataset, by index), as in the
 * run folder's history.jsonl.
 */
import type { SnapshotMessage } from '@convoy/core';

/** Everything a run has recorded so far: a snapshot without its message type. */
export type History = Omit<SnapshotMessage, 'type'>;

export const CSV_COLUMNS = [
  'kind',
  'step',
  'epoch',
  'time_ms',
  'loss',
  'accuracy',
  'validation_loss',
  'validation_accuracy',
  'images_seen',
  'images_per_second',
  'learning_rate',
  'step_ms',
  'workers',
  'event',
  'worker_id',
  'detail',
] as const;

type Column = (typeof CSV_COLUMNS)[number];
type Row = Partial<Record<Column, string | number | null>>;

/** RFC 4180 quoting; a text cell starting like a formula gets a leading ' so a spreadsheet shows it as text. */
function textCell(text: string): string {
  const safe = /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

function cell(value: string | number | null | undefined): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '';
  return textCell(value);
}

/** Rows in time order (records of the same time: step, epoch, test, event). */
export function historyToCsv(history: History): string {
  const rows: { time: number; order: number; row: Row }[] = [];
  for (const step of history.steps) {
    rows.push({
      time: step.time,
      order: 0,
      row: {
        kind: 'step',
        step: step.step,
        epoch: step.epoch,
        time_ms: step.time,
        loss: step.loss,
        accuracy: step.accuracy,
        images_seen: step.imagesSeen,
        images_per_second: step.imagesPerSecond,
        learning_rate: step.learningRate,
        step_ms: step.stepMs,
        workers: step.workers,
      },
    });
  }
  for (const epoch of history.epochs) {
    rows.push({
      time: epoch.time,
      order: 1,
      row: {
        kind: 'epoch',
        step: epoch.step,
        epoch: epoch.epoch,
        time_ms: epoch.time,
        loss: epoch.trainLoss,
        accuracy: epoch.trainAccuracy,
        validation_loss: epoch.validationLoss,
        validation_accuracy: epoch.validationAccuracy,
      },
    });
  }
  if (history.test !== null) {
    const test = history.test;
    rows.push({ time: test.time, order: 2, row: { kind: 'test', step: test.step, time_ms: test.time, loss: test.loss, accuracy: test.accuracy } });
  }
  for (const event of history.events) {
    rows.push({
      time: event.time,
      order: 3,
      row: { kind: 'event', step: event.step, time_ms: event.time, event: event.event, worker_id: event.workerId, detail: event.detail },
    });
  }
  rows.sort((a, b) => a.time - b.time || a.order - b.order);
  const lines = [CSV_COLUMNS.join(',')];
  for (const { row } of rows) lines.push(CSV_COLUMNS.map((column) => cell(row[column])).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

/** The whole history as one JSON document, pixels left out. */
export function historyToJson(history: History): string {
  const document = {
    format: 'convoy-history',
    version: 1,
    run: history.run,
    steps: history.steps,
    epochs: history.epochs.map((epoch) => ({
      ...epoch,
      misclassified: epoch.misclassified.map(({ index, label, predicted }) => ({ index, label, predicted })),
    })),
    test: history.test,
    events: history.events,
    end: history.end,
    workers: history.workers,
  };
  return `${JSON.stringify(document, null, 1)}\n`;
}
