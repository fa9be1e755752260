/**
 * The terminal view of a run. On a terminal: one status line per epoch, redrawn in place
 * (bar, step in the epoch, the epoch's average loss and accuracy so far, images/s, ETA of
 * the epoch), cut to the terminal's width; every other line (epoch results, test, events)
 * is printed above it at once. Without a terminal (logs, CI, tests): a plain step line at
 * most every LINE_INTERVAL_MS. Epoch and test results are always printed as lines.
 *
 * NOTE: no cursor hiding and no line-wrap switching: a process that ends without stop()
 * (a second Ctrl-C, a crash) would leave the user's terminal that way. The line is kept
 * shorter than the width instead, so it never wraps.
 */
import { printable, type MetricsRecord } from '@convoy/core';
import type { MetricsHub } from '../metrics.js';

/** Without a terminal, a step line at most this often. */
const LINE_INTERVAL_MS = 2_000;
/** Redraw the status line at most this often (a step can take a few milliseconds). */
const REDRAW_INTERVAL_MS = 100;
const CLEAR_LINE = '\r\x1b[K';

export interface Progress {
  log(line: string): void;
  stop(): void;
}

export interface ProgressSetup {
  readonly stepsPerEpoch: number;
  readonly totalSteps: number;
  readonly epochs: number;
  readonly validationSize: number;
  /** Terminal width in columns; undefined = not a terminal (plain lines). */
  readonly columns?: number;
  readonly write?: (text: string) => void;
}

export const percent = (fraction: number) => `${(100 * fraction).toFixed(2)}%`;

/** "1:05", "12:00:03": whole seconds as m:ss or h:mm:ss. */
export function formatDuration(seconds: number): string {
  const total = Math.max(0, Math.round(seconds));
  const [h, m, s] = [Math.floor(total / 3600), Math.floor((total % 3600) / 60), total % 60];
  const pad = (n: number) => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
}

/** The running averages of the epoch in progress: what Keras's bar shows. */
export class EpochAverages {
  epoch = 0;
  steps = 0;
  images = 0;
  private lossSum = 0;
  private correctSum = 0;
  private milliseconds = 0;

  add(record: Extract<MetricsRecord, { kind: 'step' }>): void {
    if (record.epoch !== this.epoch) Object.assign(this, { epoch: record.epoch, steps: 0, images: 0, lossSum: 0, correctSum: 0, milliseconds: 0 });
    this.steps++;
    this.images += record.images;
    this.lossSum += record.loss * record.images;
    this.correctSum += record.accuracy * record.images;
    this.milliseconds += record.stepMs;
  }

  get loss(): number {
    return this.lossSum / this.images;
  }

  get accuracy(): number {
    return this.correctSum / this.images;
  }

  get imagesPerSecond(): number {
    return (1000 * this.images) / this.milliseconds;
  }

  /** Seconds left in the epoch at this epoch's mean step time. */
  etaSeconds(stepsLeft: number): number {
    return (stepsLeft * this.milliseconds) / this.steps / 1000;
  }
}

/**
 * The status line, at most `columns - 1` characters (a line as wide as the terminal wraps
 * on some terminals): the bar takes what the figures leave, and disappears below 10.
 *   epoch 2/5 [#######.........] 120/215 loss 0.1234 acc 96.12% 2712 img/s ETA 0:35
 */
export function statusLine(averages: EpochAverages, stepInEpoch: number, setup: Pick<ProgressSetup, 'stepsPerEpoch' | 'epochs'>, columns: number): string {
  const { stepsPerEpoch, epochs } = setup;
  const head = `epoch ${averages.epoch}/${epochs}`;
  const tail =
    ` ${stepInEpoch}/${stepsPerEpoch} loss ${averages.loss.toFixed(4)} acc ${percent(averages.accuracy)}` +
    ` ${Math.round(averages.imagesPerSecond)} img/s ETA ${formatDuration(averages.etaSeconds(stepsPerEpoch - stepInEpoch))}`;
  const barWidth = columns - 1 - head.length - tail.length - 3;
  if (barWidth < 10) return `${head}${tail}`.slice(0, columns - 1);
  const filled = Math.round((barWidth * stepInEpoch) / stepsPerEpoch);
  return `${head} [${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}]${tail}`;
}

export function epochLine(record: Extract<MetricsRecord, { kind: 'epoch' }>, validationSize: number): string {
  const validation =
    validationSize === 0 ? 'no validation set' : `val loss ${record.validationLoss.toFixed(4)} acc ${percent(record.validationAccuracy)}`;
  // At most 80 columns up to epoch 9999 and 99999 s: "epoch 5: train loss 0.0312 acc 99.02% | val loss ..."
  return `epoch ${record.epoch}: train loss ${record.trainLoss.toFixed(4)} acc ${percent(record.trainAccuracy)} | ${validation} | ${record.elapsedSeconds.toFixed(0)} s`;
}

export function showProgress(metrics: MetricsHub, setup: ProgressSetup): Progress {
  const write = setup.write ?? ((text: string) => process.stdout.write(text));
  const columns = setup.columns;
  const averages = new EpochAverages();
  let status = '';
  let lastDraw = 0;
  let lastLine = 0;
  let stopped = false;
  const draw = () => {
    if (columns === undefined || status === '') return;
    lastDraw = Date.now();
    write(`${CLEAR_LINE}${status}`);
  };
  const log = (line: string) => {
    // NOTE: written at once, never buffered behind the status line, so the last lines
    // before stop() (the test result, "stopping after this step") always reach the screen.
    if (columns === undefined || stopped || status === '') return write(`${line}\n`);
    write(`${CLEAR_LINE}${line}\n${status}`);
  };
  const onRecord = (record: MetricsRecord) => {
    switch (record.kind) {
      case 'step': {
        averages.add(record);
        const stepInEpoch = record.step - (record.epoch - 1) * setup.stepsPerEpoch;
        if (columns !== undefined) {
          status = statusLine(averages, stepInEpoch, setup, columns);
          if (Date.now() - lastDraw >= REDRAW_INTERVAL_MS || stepInEpoch === setup.stepsPerEpoch) draw();
        } else if (Date.now() - lastLine > LINE_INTERVAL_MS || record.step === setup.totalSteps) {
          lastLine = Date.now();
          log(
            `step ${record.step}/${setup.totalSteps} epoch ${record.epoch}/${setup.epochs} loss ${averages.loss.toFixed(4)} acc ${percent(averages.accuracy)} ` +
              `${Math.round(averages.imagesPerSecond)} img/s ${record.workers} workers`,
          );
        }
        return;
      }
      case 'epoch':
        // The finished epoch's bar stays on screen as a line of its own, like Keras's.
        if (columns !== undefined && status !== '') write(`${CLEAR_LINE}${status}\n`);
        status = '';
        log(epochLine(record, setup.validationSize));
        return;
      case 'test':
        log(`test: loss ${record.loss.toFixed(4)} accuracy ${percent(record.accuracy)} on ${record.count} images`);
        return;
      case 'event':
        // NOTE: a detail quotes workers (names, reasons, error texts): escaped, it can neither
        // drive the terminal nor start a forged line.
        log(`[${record.event}] ${record.workerId === null ? '' : `worker ${record.workerId}: `}${printable(record.detail)}`);
        return;
      default:
        return;
    }
  };
  metrics.on('record', onRecord);
  return {
    log,
    stop() {
      if (stopped) return;
      stopped = true;
      metrics.off('record', onRecord);
      if (columns !== undefined && status !== '') write(`${CLEAR_LINE}${status}\n`);
      status = '';
    },
  };
}
