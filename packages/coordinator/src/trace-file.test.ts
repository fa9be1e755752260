import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TimingRecord } from '@convoy/core';
import { describe, expect, it } from 'vitest';
import { TRACE_FILE, TraceFile } from './trace-file.js';

const record = (step: number): TimingRecord => ({ kind: 'timing', step, startTime: 1_000 + step, stepMs: 5, waitMs: 4, sumMs: 0.5, optimizerMs: 0.25, publishMs: 0.25, workers: [] });
const steps = (dir: string) => readFileSync(join(dir, TRACE_FILE), 'utf8').trim().split('\n').filter(Boolean).map((line) => (JSON.parse(line) as TimingRecord).step);

describe('TraceFile', () => {
  it('every step until fullBytes, then the multiples of strideAfter', () => {
    const dir = mkdtempSync(join(tmpdir(), 'convoy-trace-file-'));
    const line = `${JSON.stringify(record(1))}\n`.length;
    const trace = new TraceFile(dir, true, () => undefined, { fullBytes: 3 * line, strideAfter: 5 });
    for (let step = 1; step <= 12; step++) trace.append(record(step));
    expect(steps(dir)).toEqual([1, 2, 3, 5, 10]);
  });

  it('a fresh run empties an old file; a resumed one appends', () => {
    const dir = mkdtempSync(join(tmpdir(), 'convoy-trace-file-'));
    writeFileSync(join(dir, TRACE_FILE), `${JSON.stringify(record(7))}\n`);
    new TraceFile(dir, false).append(record(8));
    expect(steps(dir)).toEqual([7, 8]);
    new TraceFile(dir, true).append(record(1));
    expect(steps(dir)).toEqual([1]);
  });

  it('a write that fails stops the trace with one line, never throws', () => {
    const lines: string[] = [];
    const trace = new TraceFile(join(tmpdir(), 'convoy-no-such-dir', 'deeper'), true, (line) => lines.push(line));
    expect(() => trace.append(record(1))).not.toThrow();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/trace\.jsonl is not written from here on .*; training goes on/);
  });
});
