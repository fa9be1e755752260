/**
 * A past run, read from what its folder keeps (history.jsonl: one record per line, the
 * coordinator's metrics records with the misclassified images' pixels left out). Pure:
 * the Node side reads the file with it, and the page parses the JSON the Node side
 * serves with it again, so nothing reaches the page's state unchecked.
 *
 * Every record goes through the protocol's own parser (as a `metrics` message), the one
 * gate for records. NOTE: that parser wants pixels with each misclassified sample, and a
 * folder keeps none: an epoch's samples are checked here by their labels, and come back
 * with empty pixels (the page draws those as blank tiles).
 */
import { DEFAULT_LIMITS, ProtocolError, parseMessage, type EpochRecord, type MetricsRecord, type MisclassifiedSample } from '@convoy/core';
import type { History } from './history-export.js';

const NO_PIXELS = new Uint8Array(0);

function checkSample(value: unknown, where: string): MisclassifiedSample {
  const sample = value as Partial<Record<'index' | 'label' | 'predicted', unknown>> | null;
  const integer = (key: 'index' | 'label' | 'predicted', max: number): number => {
    const field = sample?.[key];
    if (typeof field !== 'number' || !Number.isInteger(field) || field < 0 || field > max) {
      throw new ProtocolError('BAD_FIELD', `${where}.${key} is not an integer in [0, ${max}]`);
    }
    return field;
  };
  return { index: integer('index', 2 ** 48), label: integer('label', 255), predicted: integer('predicted', 255), pixels: NO_PIXELS };
}

/** One record, checked; `where` names it in errors (e.g. "history.jsonl line 12"). */
export function parseRecord(value: unknown, where: string): MetricsRecord {
  const isEpoch = typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'epoch';
  const samples = isEpoch ? (value as { misclassified?: unknown }).misclassified : undefined;
  const checked = isEpoch ? { ...(value as object), misclassified: [] } : value;
  let record: MetricsRecord;
  try {
    const message = parseMessage({ type: 'metrics', record: checked }, DEFAULT_LIMITS);
    if (message.type !== 'metrics') throw new ProtocolError('BAD_FIELD', 'not a record');
    record = message.record;
  } catch (error) {
    throw new ProtocolError('BAD_FIELD', `${where}: ${(error as Error).message}`);
  }
  if (record.kind !== 'epoch') return record;
  if (!Array.isArray(samples) || samples.length > 16) throw new ProtocolError('BAD_FIELD', `${where}: misclassified is not a list of at most 16 samples`);
  const epoch: EpochRecord = { ...record, misclassified: samples.map((sample, i) => checkSample(sample, `${where}: misclassified[${i}]`)) };
  return epoch;
}

/** Folds records in file order into a History, as the coordinator's metrics hub does (the newest run record wins). */
export function historyFromRecords(records: readonly MetricsRecord[]): History {
  let run: History['run'] = null;
  let test: History['test'] = null;
  let end: History['end'] = null;
  let workers: History['workers'] = [];
  const steps: History['steps'][number][] = [];
  const epochs: History['epochs'][number][] = [];
  const events: History['events'][number][] = [];
  for (const record of records) {
    switch (record.kind) {
      case 'run':
        run = record;
        // A resumed run goes on: an end before it is not the run's end.
        end = null;
        break;
      case 'step':
        steps.push(record);
        break;
      case 'epoch':
        epochs.push(record);
        break;
      case 'test':
        test = record;
        break;
      case 'workers':
        workers = record.workers;
        break;
      case 'event':
        events.push(record);
        break;
      case 'end':
        end = record;
        break;
      case 'timing':
        // Not a history record (trace.jsonl holds them): one in a history file is passed over.
        break;
      default: {
        const unknown: never = record;
        throw new Error(`unknown record ${JSON.stringify(unknown)}`);
      }
    }
  }
  return { run, steps, epochs, test, workers, events, end };
}

/**
 * history.jsonl's text. A last line without its newline is a record the run was writing
 * when it was killed: left out. Any other bad line is an error naming the line.
 */
export function parseHistoryJsonl(text: string): History {
  const lines = text.split('\n');
  lines.pop(); // '' after the final newline, or the torn record
  const records: MetricsRecord[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new ProtocolError('BAD_FIELD', `history.jsonl line ${i + 1} is not JSON`);
    }
    records.push(parseRecord(value, `history.jsonl line ${i + 1}`));
  });
  return historyFromRecords(records);
}

/** The document historyToJson writes (the /history.json download), checked record by record. */
export function parseHistoryDocument(value: unknown): History {
  const document = value as Partial<Record<'format' | 'run' | 'steps' | 'epochs' | 'test' | 'events' | 'end' | 'workers', unknown>> | null;
  if (document === null || typeof document !== 'object' || document.format !== 'convoy-history') {
    throw new ProtocolError('BAD_FIELD', 'not a convoy-history document');
  }
  const list = (key: 'steps' | 'epochs' | 'events'): unknown[] => {
    const items = document[key];
    if (!Array.isArray(items)) throw new ProtocolError('BAD_FIELD', `history.${key} is not a list`);
    return items;
  };
  const single = (key: 'run' | 'test' | 'end'): unknown[] => (document[key] === null || document[key] === undefined ? [] : [document[key]]);
  // File order: run first, the end last, so historyFromRecords keeps the end.
  const records = [...single('run'), ...list('steps'), ...list('epochs'), ...single('test'), ...list('events'), ...single('end')].map((record, i) =>
    parseRecord(record, `history record ${i}`),
  );
  const history = historyFromRecords(records);
  const workers = document.workers;
  if (Array.isArray(workers) && workers.length > 0) {
    const parsed = parseRecord({ kind: 'workers', workers, time: 0 }, 'history.workers');
    if (parsed.kind === 'workers') return { ...history, workers: parsed.workers };
  }
  return history;
}
