/**
 * What a finished run says last, as a Keras user expects after fit() and evaluate(): the
 * test result, the wall time and throughput, where the model is and the commands that use
 * it; and runs/latest, a link to the newest run folder (the docs' examples use it).
 */
import { existsSync, lstatSync, renameSync, symlinkSync, unlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { MetricsRecord } from '@convoy/core';
import { shownPath } from '../join-command.js';
import { percent, formatDuration } from './progress.js';

type TestRecord = Extract<MetricsRecord, { kind: 'test' }>;

export interface RunSummary {
  readonly runDir: string;
  readonly steps: number;
  readonly epochs: number;
  /** Images trained in this process (a resumed run counts from where it resumed). */
  readonly images: number;
  readonly wallSeconds: number;
  readonly test: TestRecord | null;
  readonly modelFile: string;
}

export function summaryLines(name: string, summary: RunSummary): string[] {
  const run = shownPath(summary.runDir);
  const speed = summary.wallSeconds > 0 ? `, ${Math.round(summary.images / summary.wallSeconds)} images/s` : '';
  return [
    `${name}: finished ${summary.epochs} epochs (${summary.steps} steps) in ${formatDuration(summary.wallSeconds)} wall time${speed}`,
    summary.test === null
      ? '  test:  none (--test-size 0)'
      : `  test:  loss ${summary.test.loss.toFixed(4)}, accuracy ${percent(summary.test.accuracy)} on ${summary.test.count} images`,
    `  model: ${shownPath(summary.modelFile)}`,
    `  next:  pnpm convoy eval ${run}`,
    `         pnpm convoy predict ${run} digit.png`,
    `         pnpm convoy export ${run} --onnx model.onnx`,
  ];
}

/**
 * Points <parent>/latest at `runDir` when its parent folder is called "runs" (the default
 * --out); a run folder elsewhere is the user's choice of place and gets no link beside it.
 * The link is replaced atomically (a new link renamed over the old one). Returns the
 * link's path, or null when none was made.
 */
export function linkLatest(runDir: string): string | null {
  const parent = dirname(runDir);
  if (basename(parent) !== 'runs' || basename(runDir) === 'latest') return null;
  const link = join(parent, 'latest');
  if (existsSync(link) && !lstatSync(link).isSymbolicLink()) return null; // a real folder called latest: leave it
  const temporary = join(parent, `.latest-${process.pid}`);
  if (lstatSafe(temporary)) unlinkSync(temporary);
  symlinkSync(basename(runDir), temporary, 'dir');
  renameSync(temporary, link);
  return link;
}

function lstatSafe(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}
