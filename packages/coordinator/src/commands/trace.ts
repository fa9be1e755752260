/**
 * `convoy trace RUN [--out FILE]`: the run folder's trace.jsonl (trace-file.ts) as a Chrome
 * trace-event JSON file that Perfetto (ui.perfetto.dev) or chrome://tracing opens
 * (trace-events.ts). Default output: RUN/trace.json.
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { DEFAULT_LIMITS, parseMessage, type TimingRecord } from '@convoy/core';
import { chromeTrace } from '../trace-events.js';
import { TRACE_FILE } from '../trace-file.js';
import { CliError } from './errors.js';

export function runTrace(run: string, options: { out?: string }, print: (line: string) => void): void {
  const folder = resolve(run);
  let isFolder = false;
  try {
    isFolder = statSync(folder).isDirectory();
  } catch {
    throw new CliError('FILE_NOT_FOUND', `${run}: no such run folder`);
  }
  if (!isFolder) throw new CliError('FILE_NOT_FOUND', `${run} is not a run folder (give the folder, e.g. runs/latest)`);
  const path = join(folder, TRACE_FILE);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new CliError('FILE_NOT_FOUND', `${run} holds no ${TRACE_FILE} (runs record one from this version of Convoy on)`);
  }
  const records: TimingRecord[] = [];
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let record;
    try {
      // Checked as the record of a `metrics` message: the one gate every record passes.
      const message = parseMessage({ type: 'metrics', record: JSON.parse(line) }, DEFAULT_LIMITS);
      record = message.type === 'metrics' ? message.record : null;
    } catch (error) {
      // NOTE: the last line may be cut short by a crash mid-write: skipped, like history.jsonl's.
      if (i >= lines.length - 2) return;
      throw new CliError('BAD_OPTION', `${path} line ${i + 1} is not a timing record: ${(error as Error).message}`);
    }
    if (record?.kind === 'timing') records.push(record);
  });
  if (records.length === 0) throw new CliError('BAD_OPTION', `${path} holds no step yet`);
  const trace = chromeTrace(basename(folder), records);
  const out = resolve(options.out ?? join(folder, 'trace.json'));
  writeFileSync(out, JSON.stringify(trace));
  const straggler = trace.otherData.straggler;
  print(`${out}: ${trace.otherData.steps} steps, ${trace.otherData.workers.length} workers, ${trace.traceEvents.length} events; open it in https://ui.perfetto.dev`);
  if (straggler !== null) print(`straggler: worker ${straggler.workerId} (mean step ${straggler.meanStepMs.toFixed(1)} ms, ${straggler.score.toFixed(2)}x the fastest)`);
}
