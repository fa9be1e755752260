import { mkdtempSync, mkdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MetricsRecord } from '@convoy/core';
import { describe, expect, it } from 'vitest';
import { MetricsHub } from '../metrics.js';
import { DUPLICATE_WINDOW_MS, interruptHandler } from './interrupts.js';
import { EpochAverages, epochLine, formatDuration, showProgress, type ProgressSetup } from './progress.js';
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

const sleep = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds));

/**
 * What a terminal `columns` wide shows for `output`, line by line. It knows the sequences a
 * redrawn line uses (CR, cursor to column n `CSI n G`, erase `CSI K` / `CSI 2 K`) and wraps
 * a character past the last column as xterm does; any other escape sequence fails the test.
 */
function screenLines(output: string, columns: number): string[] {
  const lines: string[][] = [[]];
  let column = 0;
  for (const [token, number, command] of output.matchAll(/\x1b\[(\d*)([A-Za-z])|\x1b|\r|\n|[^\x1b\r\n]/g)) {
    const line = lines.at(-1)!;
    if (token === '\n') {
      lines.push([]);
      column = 0;
    } else if (token === '\r') column = 0;
    else if (command === 'G') column = Number(number || 1) - 1;
    else if (command === 'K' && (number === '' || number === '0')) line.length = Math.min(line.length, column);
    else if (command === 'K' && number === '2') line.length = 0;
    else if (token.startsWith('\x1b')) throw new Error(`unexpected escape sequence ${JSON.stringify(token)}`);
    else {
      if (column >= columns) {
        lines.push([]);
        column = 0;
      }
      lines.at(-1)![column++] = token;
    }
  }
  return lines.map((line) => Array.from(line, (character) => character ?? ' ').join(''));
}

/** showProgress on a terminal `columns` wide whose output is kept. */
function onTerminal(columns: number, setup: Pick<ProgressSetup, 'stepsPerEpoch' | 'totalSteps' | 'epochs'>) {
  let output = '';
  const metrics = new MetricsHub();
  const progress = showProgress(metrics, { ...setup, validationSize: 100, columns, write: (text) => (output += text) });
  return { metrics, progress, output: () => output, lines: () => screenLines(output, columns) };
}

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
    const terminal = onTerminal(columns, { stepsPerEpoch: 9999, totalSteps: 99_990, epochs: 10 });
    terminal.metrics.publish(step(9 * 9999 + 1234, 10, 0.123456, 0.99999, 256, 120));
    terminal.progress.stop();
    const [line, ...rest] = terminal.lines();
    expect(rest).toEqual(['']);
    expect(line!.length).toBeLessThanOrEqual(columns - 1);
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
    const terminal = onTerminal(80, { stepsPerEpoch: 4, totalSteps: 8, epochs: 2 });
    terminal.metrics.publish(step(1, 1, 1, 0.5));
    terminal.metrics.publish({ kind: 'test', step: 8, loss: 0.1, accuracy: 0.97, count: 256, time: Date.now() });
    terminal.progress.log('convoy: stopping after the current step (Ctrl-C again to quit at once)');
    // At once: before stop(), before any redraw by the bar's timer.
    expect(terminal.lines().slice(0, 2)).toEqual(['test: loss 0.1000 accuracy 97.00% on 256 images', 'convoy: stopping after the current step (Ctrl-C again to quit at once)']);
    terminal.progress.stop();
    const screen = terminal.output();
    expect(screen).toContain('test: loss 0.1000 accuracy 97.00% on 256 images\n');
    expect(screen).toContain('stopping after the current step');
    // Nothing that changes the terminal's modes (a crash could not undo it).
    expect(screen).not.toMatch(/\x1b\[\?(25|7)[lh]/);
    expect(screen.endsWith('\n')).toBe(true);
    expect(terminal.lines()[2]).toMatch(/^epoch 1\/2 \[#+\.+\] 1\/4 loss 1\.0000 acc 50\.00% /);
  });

  it('redraws the bar in place with the epoch averages; a logged line goes above it and the bar is drawn again', async () => {
    const terminal = onTerminal(80, { stepsPerEpoch: 4, totalSteps: 8, epochs: 2 });
    terminal.metrics.publish(step(1, 1, 2.0, 0.25, 64, 1000));
    terminal.metrics.publish(step(2, 1, 1.0, 0.75, 32, 1000));
    await sleep(300); // cli-progress draws on its own timer (10 frames/s)
    // (2.0*64 + 1.0*32) / 96 = 1.6667, (0.25*64 + 0.75*32) / 96 = 41.67%; 96 images / 2 s; 2 steps left x 1 s.
    const bar = /^epoch 1\/2 \[#+\.+\] 2\/4 loss 1\.6667 acc 41\.67% 48 img\/s ETA 0:02$/;
    expect(terminal.lines()).toEqual([expect.stringMatching(bar)]);
    terminal.progress.log('[join] worker 3: local-3');
    expect(terminal.lines()).toEqual(['[join] worker 3: local-3', expect.stringMatching(bar)]);
    await sleep(300);
    expect(terminal.lines()).toEqual(['[join] worker 3: local-3', expect.stringMatching(bar)]);
    terminal.progress.stop();
  });

  it("leaves each finished epoch's bar on screen above its result line; the next epoch gets a bar of its own", () => {
    const terminal = onTerminal(80, { stepsPerEpoch: 4, totalSteps: 8, epochs: 2 });
    for (let stepNumber = 1; stepNumber <= 4; stepNumber++) terminal.metrics.publish(step(stepNumber, 1, stepNumber, 0.5));
    terminal.metrics.publish(epochRecord(1));
    terminal.metrics.publish(step(5, 2, 0.5, 1));
    terminal.progress.log('convoy: stopping after the current step (Ctrl-C again to quit at once)');
    terminal.progress.stop();
    terminal.progress.log('after stop: a plain line');
    expect(terminal.lines()).toEqual([
      // Loss (1+2+3+4)/4 over the epoch, not the last batch's 4.
      expect.stringMatching(/^epoch 1\/2 \[#+\] 4\/4 loss 2\.5000 acc 50\.00% 640 img\/s ETA 0:00$/),
      'epoch 1: train loss 0.5000 acc 90.00% | val loss 0.2500 acc 95.00% | 12 s',
      'convoy: stopping after the current step (Ctrl-C again to quit at once)',
      expect.stringMatching(/^epoch 2\/2 \[#+\.+\] 1\/4 loss 0\.5000 acc 100\.00% 640 img\/s ETA 0:00$/),
      'after stop: a plain line',
      '',
    ]);
    expect(terminal.output()).not.toMatch(/\x1b\[\?(25|7)[lh]/);
  });
});

describe('showProgress without a terminal', () => {
  it('prints plain step and epoch lines, with no escape sequence', () => {
    let output = '';
    const metrics = new MetricsHub();
    const progress = showProgress(metrics, { stepsPerEpoch: 4, totalSteps: 4, epochs: 1, validationSize: 100, write: (text) => (output += text) });
    for (let stepNumber = 1; stepNumber <= 4; stepNumber++) metrics.publish(step(stepNumber, 1, 1, 0.5));
    metrics.publish(epochRecord(1));
    progress.stop();
    // The first step line at once, then at most every 2 s, and always the last step's.
    expect(output).toBe(
      'step 1/4 epoch 1/1 loss 1.0000 acc 50.00% 640 img/s 2 workers\n' +
        'step 4/4 epoch 1/1 loss 1.0000 acc 50.00% 640 img/s 2 workers\n' +
        'epoch 1: train loss 0.5000 acc 90.00% | val loss 0.2500 acc 95.00% | 12 s\n',
    );
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
