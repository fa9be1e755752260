/**
 * trace.jsonl in the run folder: one `timing` record (core's TimingRecord) per line, what
 * `convoy trace RUN` turns into a Chrome trace. Kept apart from history.jsonl, which a
 * dashboard reads whole and a snapshot carries: one entry per step and worker would swell it
 * several times over (about 250 bytes a step plus 250 per answer).
 *
 * Bounded: every step while the file is under TRACE_LIMITS.fullBytes (tens of thousands of
 * steps with a few workers), then one step in TRACE_LIMITS.strideAfter. A failed write (a
 * full disk) stops the trace, never the run: the trace only describes training.
 * A resumed run appends: the steps it repeats appear twice, and readers keep the last line of
 * each step (trace-events.ts).
 */
import { appendFileSync, existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TimingRecord } from '@convoy/core';

export const TRACE_FILE = 'trace.jsonl';

export const TRACE_LIMITS = {
  /** Every step is written until the file holds this many bytes. */
  fullBytes: 64 * 1024 * 1024,
  /** Past fullBytes, only steps that are a multiple of this. */
  strideAfter: 100,
} as const;

export class TraceFile {
  readonly path: string;
  private bytes: number;
  private failed = false;

  /** `fresh`: a new run (an existing file is emptied); otherwise lines are appended (--resume). */
  constructor(
    dir: string,
    fresh: boolean,
    private readonly log: (line: string) => void = () => undefined,
    private readonly limits: { readonly fullBytes: number; readonly strideAfter: number } = TRACE_LIMITS,
  ) {
    this.path = join(dir, TRACE_FILE);
    this.bytes = 0;
    try {
      if (fresh || !existsSync(this.path)) writeFileSync(this.path, '');
      else this.bytes = statSync(this.path).size;
    } catch (error) {
      this.fail(error);
    }
  }

  append(record: TimingRecord): void {
    if (this.failed) return;
    if (this.bytes >= this.limits.fullBytes && record.step % this.limits.strideAfter !== 0) return;
    const line = `${JSON.stringify(record)}\n`;
    try {
      appendFileSync(this.path, line);
      this.bytes += Buffer.byteLength(line);
    } catch (error) {
      this.fail(error);
    }
  }

  private fail(error: unknown): void {
    this.failed = true;
    this.log(`convoy: ${TRACE_FILE} is not written from here on (${(error as Error).message}); training goes on`);
  }
}
