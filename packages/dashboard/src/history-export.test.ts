import { describe, expect, it } from 'vitest';
import { CSV_COLUMNS, historyToCsv, historyToJson } from './history-export.js';
import { eventRecord, fixtureHistory, START_TIME } from './testing/history-fixture.js';

/** RFC 4180 reader for the test (quoted cells, doubled quotes, CRLF). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;
    if (quoted) {
      if (char === '"' && text[i + 1] === '"') (cell += '"'), i++;
      else if (char === '"') quoted = false;
      else cell += char;
    } else if (char === '"') quoted = true;
    else if (char === ',') row.push(cell), (cell = '');
    else if (char === '\r' && text[i + 1] === '\n') row.push(cell), rows.push(row), (row = []), (cell = ''), i++;
    else cell += char;
  }
  return rows;
}

describe('historyToCsv', () => {
  const history = {
    ...fixtureHistory(20),
    test: { kind: 'test' as const, step: 20, loss: 0.25, accuracy: 0.975, count: 100, time: START_TIME + 100 * 20 + 80 },
    events: [eventRecord('join', 0, 1, 'local-1'), eventRecord('death', 12, 2, 'connection closed, "kill -9"'), eventRecord('leave', 15, 1, '=HYPERLINK("x")')],
  };
  const rows = parseCsv(historyToCsv(history));
  const column = (name: (typeof CSV_COLUMNS)[number]) => CSV_COLUMNS.indexOf(name);

  it('has the header and one row per step, epoch, test and event record, in time order', () => {
    expect(rows[0]).toEqual([...CSV_COLUMNS]);
    expect(rows.length).toBe(1 + 20 + 2 + 1 + 3);
    const times = rows.slice(1).map((row) => Number(row[column('time_ms')]));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(rows.slice(1).map((row) => row[column('kind')]).filter((kind) => kind === 'step').length).toBe(20);
  });

  it('step rows carry the exact numbers (they parse back to the same doubles)', () => {
    const step7 = rows.find((row) => row[column('kind')] === 'step' && row[column('step')] === '7')!;
    expect(Number(step7[column('loss')])).toBe(2 / 1.7);
    expect(Number(step7[column('accuracy')])).toBe(1 - 0.9 / 1.7);
    expect(Number(step7[column('images_seen')])).toBe(224);
    expect(step7[column('validation_loss')]).toBe('');
  });

  it('epoch rows hold train and validation figures; the test row its loss and accuracy', () => {
    const epoch2 = rows.find((row) => row[column('kind')] === 'epoch' && row[column('epoch')] === '2')!;
    expect(epoch2[column('step')]).toBe('20');
    expect(Number(epoch2[column('loss')])).toBe(0.5);
    expect(Number(epoch2[column('validation_accuracy')])).toBe(1 - 0.11 / 2);
    const test = rows.find((row) => row[column('kind')] === 'test')!;
    expect([test[column('loss')], test[column('accuracy')]]).toEqual(['0.25', '0.975']);
  });

  it('quotes commas and quotes, and defuses a detail that a spreadsheet would run as a formula', () => {
    const details = rows.filter((row) => row[column('kind')] === 'event').map((row) => row[column('detail')]);
    expect(details).toEqual(['local-1', 'connection closed, "kill -9"', `'=HYPERLINK("x")`]);
  });
});

describe('historyToJson', () => {
  it('holds every record, without pixels', () => {
    const history = fixtureHistory(30);
    const text = historyToJson(history);
    const document = JSON.parse(text) as Record<string, unknown>;
    expect(document['format']).toBe('convoy-history');
    expect((document['steps'] as unknown[]).length).toBe(30);
    const epochs = document['epochs'] as { misclassified: Record<string, unknown>[] }[];
    expect(epochs.length).toBe(3);
    expect(epochs[0]!.misclassified[0]).toEqual({ index: 59_917, label: 1, predicted: 7 });
    expect(text).not.toContain('pixels');
    expect((document['run'] as { runId: string }).runId).toBe('fixture-run');
  });
});
