/**
 * The terminal view of a run: a cli-progress bar (epoch, step, loss, accuracy, images/s,
 * workers) on a terminal, plain lines otherwise (logs, CI, tests). Epoch and test results
 * are always printed as lines.
 */
import cliProgress from 'cli-progress';
import type { MetricsRecord } from '@convoy/core';
import type { MetricsHub } from '../metrics.js';

/** Without a terminal, a step line at most this often. */
const LINE_INTERVAL_MS = 2_000;

export interface Progress {
  log(line: string): void;
  stop(): void;
}

const percent = (fraction: number) => `${(100 * fraction).toFixed(2)}%`;

export function showProgress(metrics: MetricsHub, totalSteps: number, epochs: number, startStep: number): Progress {
  const tty = process.stdout.isTTY === true;
  const multibar = tty
    ? new cliProgress.MultiBar(
        {
          format: 'epoch {epoch}/{epochs} |{bar}| step {value}/{total} | loss {loss} | acc {accuracy} | {speed} img/s | {workers} workers',
          hideCursor: true,
          clearOnComplete: false,
          barsize: 24,
        },
        cliProgress.Presets.shades_classic,
      )
    : null;
  const bar = multibar?.create(totalSteps, startStep, { epoch: 1, epochs, loss: '-', accuracy: '-', speed: '-', workers: 0 });
  let lastLine = 0;
  const log = (line: string) => (multibar ? multibar.log(`${line}\n`) : process.stdout.write(`${line}\n`));
  const onRecord = (record: MetricsRecord) => {
    switch (record.kind) {
      case 'step': {
        const values = {
          epoch: record.epoch,
          epochs,
          loss: record.loss.toFixed(4),
          accuracy: percent(record.accuracy),
          speed: Math.round(record.imagesPerSecond),
          workers: record.workers,
        };
        if (bar) bar.update(record.step, values);
        else if (Date.now() - lastLine > LINE_INTERVAL_MS || record.step === totalSteps) {
          lastLine = Date.now();
          log(`step ${record.step}/${totalSteps} epoch ${record.epoch}/${epochs} loss ${values.loss} acc ${values.accuracy} ${values.speed} img/s ${record.workers} workers`);
        }
        return;
      }
      case 'epoch':
        log(
          `epoch ${record.epoch}: train loss ${record.trainLoss.toFixed(4)} acc ${percent(record.trainAccuracy)} | validation loss ${record.validationLoss.toFixed(4)} acc ${percent(record.validationAccuracy)} | ${record.elapsedSeconds.toFixed(1)} s`,
        );
        return;
      case 'test':
        log(`test: loss ${record.loss.toFixed(4)} accuracy ${percent(record.accuracy)} on ${record.count} images`);
        return;
      case 'event':
        log(`[${record.event}] ${record.workerId === null ? '' : `worker ${record.workerId}: `}${record.detail}`);
        return;
      default:
        return;
    }
  };
  metrics.on('record', onRecord);
  return {
    log,
    stop() {
      metrics.off('record', onRecord);
      multibar?.stop();
    },
  };
}
