import { mkdtempSync, mkdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MetricsRecord } from '@convoy/core';
import { describe, expect, it } from 'vitest';
import { MetricsHub } from '../metrics.js';
import { DUPLICATE_WINDOW_MS, interruptHandler } from './interrupts.js';
import { EpochAverages, epochLine, formatDuration, showProgress, statusLine } from './progress.js';
import { linkLatest, summaryLines } from './summary.js';

type StepRecord = Extract<MetricsRecord, { kind: 'step' }>;
type EpochRecord = Extract<MetricsRecord, { kind: 'epoch' }>;

const step = (stepNumber: number, epoch: number, loss: number, accuracy: number, images = 64, stepMs = 100): StepRecord => ({
  kind: 'step', step: stepNumber, epoch, loss, accuracy, images, imagesSeen: stepNumber * images, imagesPerSecond: (1000 * images) / stepMs,
  learningRate: 0.001, stepMs, workers: 2, time: Date.now(),
});

const epochRecord = (epoch: number): EpochRecord => ({
  kind: 'epoch', epoch, step: epoch * 4, trainLoss: 0.5, trainAccuracy: 0.9, validationLoss: 0.25, validationAccuracy: 0.95,
  confusion: [], misclassified: [], elapsedSeconds: 12.3, time: Date.now(),
});

describe('the status line', () => {
  it('shows the epoch average (weighted by images), not the last batch', () => {
    const averages = new EpochAverages();
    averages.add(step(1, 1, 2.0, 0.25, 64));
    averages.add(step(2, 1, 1.0, 0.75, 32));
    // (2.0*64 + 1.0*32) / 96 and (0.25*64 + 0.75*32) / 96, by hand.
    expect(averages.loss).toBeCloseTo(160 / 96, 12);
    expect(averages.accuracy).toBeCloseTo(40 / 96, 12);
    averages.add(step(3, 2, 0.5, 0.5));
    expect([averages.epoch, averages.steps, averages.loss]).toEqual([2, 1, 0.5]);
  });

  it('ETA = steps left x the mean step time; images/s over the epoch', () => {
    const averages = new EpochAverages();
    averages.add(step(1, 1, 1, 1, 64, 100));
    averages.add(step(2, 1, 1, 1, 64, 300));
    expect(averages.etaSeconds(10)).toBeCloseTo(2, 12);
    expect(averages.imagesPerSecond).toBeCloseTo(320, 9);
    expect(formatDuration(65)).toBe('1:05');
    expect(formatDuration(3 * 3600 + 7)).toBe('3:00:07');
  });

  it.each([80, 60, 40, 200])('fits %i columns (one less, so it never wraps)', (columns) => {
    const averages = new EpochAverages();
    averages.add(step(1234, 10, 0.123456, 0.99999, 256, 120));
    const line = statusLine(averages, 1234, { stepsPerEpoch: 9999, epochs: 10 }, columns);
    expect(line.length).toBeLessThanOrEqual(columns - 1);
    expect(line).toMatch(/^epoch 10\/10/);
    // 8765 steps left x 120 ms = 1051.8 s = 17:32; 256 images / 120 ms = 2133 img/s.
    if (columns >= 80) expect(line).toMatch(/\[#*\.*\] 1234\/9999 loss 0\.1235 acc 100\.00% 2133 img\/s ETA 17:32$/);
  });

  it('says "no validation set" for --validation-size 0', () => {
    expect(epochLine(epochRecord(1), 0)).toMatch(/\| no validation set \|/);
    expect(epochLine(epochRecord(1), 0)).not.toMatch(/val loss/);
    expect(epochLine(epochRecord(1), 5000)).toMatch(/val loss 0\.2500 acc 95\.00%/);
  });
});

describe('showProgress on a terminal', () => {
  it('prints a line logged just before stop() at once (the test line was swallowed)', () => {
    const metrics = new MetricsHub();
    let screen = '';
    const progress = showProgress(metrics, { stepsPerEpoch: 4, totalSteps: 8, epochs: 2, validationSize: 100, columns: 80, write: (text) => (screen += text) });
    metrics.publish(step(1, 1, 1, 0.5));
    metrics.publish({ kind: 'test', step: 8, loss: 0.1, accuracy: 0.97, count: 256, time: Date.now() });
    progress.log('convoy: stopping after the current step (Ctrl-C again to quit at once)');
    progress.stop();
    expect(screen).toContain('test: loss 0.1000 accuracy 97.00% on 256 images\n');
    expect(screen).toContain('stopping after the current step');
    // Nothing that changes the terminal's modes (a crash could not undo it).
    expect(screen).not.toMatch(/\x1b\[\?(25|7)[lh]/);
    expect(screen.endsWith('\n')).toBe(true);
  });
});

describe('interrupts', () => {
  it('a second SIGINT within the window is the same keypress; after it, quit', () => {
    let now = 0;
    const calls: string[] = [];
    const handler = interruptHandler({ stop: () => calls.push('stop'), quit: () => calls.push('quit') }, () => now);
    handler('SIGINT');
    now = 5;
    handler('SIGINT'); // pnpm's forward of the same Ctrl-C
    expect(calls).toEqual(['stop']);
    now = DUPLICATE_WINDOW_MS + 10;
    handler('SIGINT');
    expect(calls).toEqual(['stop', 'quit']);
  });
});

describe('the finish', () => {
  it('summary: test result, wall time, images/s, model, next commands', () => {
    const lines = summaryLines('convoy', {
      runDir: '/data/runs/x', steps: 96, epochs: 3, images: 6144, wallSeconds: 20,
      test: { kind: 'test', step: 96, loss: 0.0991, accuracy: 0.9765625, count: 256, time: 0 }, modelFile: '/data/runs/x/model.ckpt',
    });
    expect(lines[0]).toBe('convoy: finished 3 epochs (96 steps) in 0:20 wall time, 307 images/s');
    expect(lines[1]).toBe('  test:  loss 0.0991, accuracy 97.66% on 256 images');
    expect(lines.slice(2).join('\n')).toMatch(/model: \/data\/runs\/x\/model\.ckpt\n.*pnpm convoy eval \/data\/runs\/x\n.*pnpm convoy predict .*\n.*pnpm convoy export \/data\/runs\/x --onnx model\.onnx/);
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(80);
  });

  it('runs/latest points at the newest run folder under runs/, and only there', () => {
    const root = mkdtempSync(join(tmpdir(), 'convoy-latest-'));
    const runs = join(root, 'runs');
    mkdirSync(join(runs, 'a'), { recursive: true });
    mkdirSync(join(runs, 'b'));
    expect(linkLatest(join(runs, 'a'))).toBe(join(runs, 'latest'));
    expect(readlinkSync(join(runs, 'latest'))).toBe('a');
    linkLatest(join(runs, 'b'));
    expect(readlinkSync(join(runs, 'latest'))).toBe('b');
    expect(linkLatest(join(root, 'elsewhere'))).toBeNull();
    // A real folder called latest is the user's: left alone.
    const other = join(root, 'other', 'runs');
    mkdirSync(join(other, 'latest'), { recursive: true });
    writeFileSync(join(other, 'latest', 'keep'), '');
    expect(linkLatest(join(other, 'c'))).toBeNull();
  });
});
