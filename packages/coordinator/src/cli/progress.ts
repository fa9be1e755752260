/**
 * The terminal view of a run. On a terminal: a cli-progress bar per epoch (step in the epoch,
 * the epoch's average loss and accuracy so far, images/s, ETA of the epoch) that fits the
 * terminal's width; every other line (epoch results, test, events) is printed above it at once,
 * and the finished epoch's bar stays on screen as a line, like Keras's. Without a terminal
 * (logs, CI, tests): a plain step line at most every LINE_INTERVAL_MS. Epoch and test results
 * are always printed as lines.
 *
 * NOTE: cli-progress's own defaults change the terminal's modes: lib/options.js defaults
 * `linewrap` to false, so MultiBar.create writes `\e[?7l` (wrap off), and `hideCursor: true`
 * writes `\e[?25l`; only stop() switches them back, so a process that ends without it (a
 * second Ctrl-C, a crash) would leave the user's terminal that way. BAR_OPTIONS switches
 * neither; the bar is kept narrower than the terminal instead, so it never wraps.
 */
import cliProgress from 'cli-progress';
import { printable, type MetricsRecord } from '@convoy/core';
import type { MetricsHub } from '../metrics.js';

/** Without a terminal, a step line at most this often. */
const LINE_INTERVAL_MS = 2_000;
/** A bar narrower than this says nothing: the line goes without it. */
const MIN_BAR_SIZE = 5;
/** The bar line, in cli-progress's tokens ({bar}, {value}, {total} are its own; the rest is BarFigures). */
const FORMAT = 'epoch {epoch}/{epochs} [{bar}] {value}/{total} loss {loss} acc {accuracy} {speed} img/s ETA {timeLeft}';
const FORMAT_WITHOUT_BAR = FORMAT.replace(' [{bar}]', '');

const BAR_OPTIONS = {
  // Neither is ever switched (see the NOTE above). With `linewrap: true`, lib/terminal.js's
  // write() cuts every bar line to the stream's `columns` instead.
  hideCursor: false,
  linewrap: true,
  // Its own SIGINT/SIGTERM listener would end the bar at the first Ctrl-C while the run still
  // finishes its step; interrupts.ts owns the signals. (Its README says this defaults to true,
  // lib/options.js says false: set either way.)
  gracefulExit: false,
  // NOTE: a logged line is written over the bar's line, and GenericBar.render() skips a bar
  // whose text did not change ("only trigger redraw on change"): without this the bar would
  // vanish after every logged line until its figures change.
  forceRedraw: true,
  clearOnComplete: false,
  barCompleteChar: '#',
  barIncompleteChar: '.',
} satisfies cliProgress.Options;

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

  /**
   * Seconds left in the epoch at this epoch's mean step time. Not cli-progress's {eta}: that
   * one is a rate over the wall time since the bar's start(), which for a bar started at an
   * epoch's first step record misses that step and has no rate ("0s", "INF") before the next.
   */
  etaSeconds(stepsLeft: number): number {
    return (stepsLeft * this.milliseconds) / this.steps / 1000;
  }
}

/** The bar's own figures, as the payload of FORMAT's tokens. */
function barFigures(averages: EpochAverages, setup: Pick<ProgressSetup, 'epochs' | 'stepsPerEpoch'>, stepInEpoch: number) {
  return {
    epoch: averages.epoch,
    epochs: setup.epochs,
    loss: averages.loss.toFixed(4),
    accuracy: percent(averages.accuracy),
    speed: Math.round(averages.imagesPerSecond),
    timeLeft: formatDuration(averages.etaSeconds(setup.stepsPerEpoch - stepInEpoch)),
  };
}
type BarFigures = ReturnType<typeof barFigures>;

/**
 * The bar's size for an epoch: what the line leaves of the `width` columns it may take, with
 * the epoch's first figures, less one column for a figure that gains a digit (a longer line is
 * cut at its end by cli-progress, never wrapped); 0 = no bar (FORMAT_WITHOUT_BAR).
 */
function barSize(figures: BarFigures, stepsPerEpoch: number, width: number): number {
  const tokens: Record<string, string | number> = { ...figures, value: stepsPerEpoch, total: stepsPerEpoch, bar: '' };
  const rest = FORMAT.replace(/\{(\w+)\}/g, (_, key: string) => String(tokens[key]));
  const size = width - rest.length - 1;
  return size >= MIN_BAR_SIZE ? size : 0;
}

export function epochLine(record: Extract<MetricsRecord, { kind: 'epoch' }>, validationSize: number): string {
  const validation =
    validationSize === 0 ? 'no validation set' : `val loss ${record.validationLoss.toFixed(4)} acc ${percent(record.validationAccuracy)}`;
  // At most 80 columns up to epoch 9999 and 99999 s: "epoch 5: train loss 0.0312 acc 99.02% | val loss ..."
  return `epoch ${record.epoch}: train loss ${record.trainLoss.toFixed(4)} acc ${percent(record.trainAccuracy)} | ${validation} | ${record.elapsedSeconds.toFixed(0)} s`;
}

/**
 * What cli-progress writes to: lib/terminal.js reads `isTTY` and `columns` (the width it cuts
 * bar lines to) and calls write(); readline's cursor moves go through write() too.
 */
function barStream(write: (text: string) => void, lineWidth: number): NodeJS.WritableStream {
  const stream = { isTTY: true, columns: lineWidth, write: (text: string) => (write(text), true) };
  return stream as unknown as NodeJS.WritableStream;
}

export function showProgress(metrics: MetricsHub, setup: ProgressSetup): Progress {
  const write = setup.write ?? ((text: string) => process.stdout.write(text));
  // NOTE: one column less than the terminal: a line as wide as the terminal wraps on some terminals.
  const lineWidth = setup.columns === undefined ? undefined : setup.columns - 1;
  const averages = new EpochAverages();
  /** The epoch in progress's bar; null between epochs (lines are then written directly). */
  let epochBar: { bars: cliProgress.MultiBar; bar: cliProgress.SingleBar } | null = null;
  let lastLine = 0;
  let stopped = false;
  const endBar = () => {
    // Renders the bar a last time and ends its line: it stays on screen.
    epochBar?.bars.stop();
    epochBar = null;
  };
  const log = (line: string) => {
    if (epochBar === null) return write(`${line}\n`);
    // NOTE: MultiBar.log() only buffers until the next redraw (up to 1/fps later), and its
    // stop() never writes that buffer; redrawing now prints the line at once, so the last
    // lines before stop() (the test result, "stopping after this step") always reach the screen.
    epochBar.bars.log(`${line}\n`);
    epochBar.bars.update();
  };
  const onStep = (record: Extract<MetricsRecord, { kind: 'step' }>, width: number) => {
    const stepInEpoch = record.step - (record.epoch - 1) * setup.stepsPerEpoch;
    const figures = barFigures(averages, setup, stepInEpoch);
    if (epochBar === null) {
      const size = barSize(figures, setup.stepsPerEpoch, width);
      const bars = new cliProgress.MultiBar({
        ...BAR_OPTIONS,
        stream: barStream(write, width),
        format: size === 0 ? FORMAT_WITHOUT_BAR : FORMAT,
        barsize: size,
      });
      epochBar = { bars, bar: bars.create(setup.stepsPerEpoch, stepInEpoch, figures) };
    }
    // cli-progress draws it on its own timer, `fps` (10) times a second.
    epochBar.bar.update(stepInEpoch, figures);
  };
  const onRecord = (record: MetricsRecord) => {
    switch (record.kind) {
      case 'step': {
        averages.add(record);
        if (lineWidth !== undefined) onStep(record, lineWidth);
        else if (Date.now() - lastLine > LINE_INTERVAL_MS || record.step === setup.totalSteps) {
          lastLine = Date.now();
          log(
            `step ${record.step}/${setup.totalSteps} epoch ${record.epoch}/${setup.epochs} loss ${averages.loss.toFixed(4)} acc ${percent(averages.accuracy)} ` +
              `${Math.round(averages.imagesPerSecond)} img/s ${record.workers} workers`,
          );
        }
        return;
      }
      case 'epoch':
        endBar();
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
      case 'run':
      case 'workers':
      case 'end':
      case 'timing':
        // The run's start and end are printed by run.ts; the workers table and step timelines are the dashboard's.
        return;
      default: {
        const unknown: never = record;
        throw new Error(`unknown record kind ${(unknown as { kind: string }).kind}`);
      }
    }
  };
  metrics.on('record', onRecord);
  return {
    log,
    stop() {
      if (stopped) return;
      stopped = true;
      metrics.off('record', onRecord);
      endBar();
    },
  };
}
