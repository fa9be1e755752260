/**
 * What `pnpm start` and `pnpm coordinator` share: parse the flags, start the coordinator,
 * (for start) spawn the local workers, show progress, handle Ctrl-C, and exit:
 * 0 finished or stopped cleanly, 1 failure, 2 bad flags, 130 a second Ctrl-C.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { printable } from '@convoy/core';
import { readCheckpoint } from '@convoy/core/node';
import type { Command } from 'commander';
import { parseChaosPlan, type ChaosPlan } from '../chaos.js';
import { isLoopback, type TrainingOptions } from '../defaults.js';
import { startCoordinator, type Coordinator } from '../coordinator.js';
import { spawnLocalWorkers, waitForExit } from '../local-workers.js';
import { CHECKPOINT_FILE, MODEL_FILE } from '../persistence.js';
import { RunFolderError } from '../run-folder.js';
import { mountDashboard, writeHistoryPlot } from './dashboard.js';
import { interruptHandler } from './interrupts.js';
import { ERROR_PREFIX, addCoordinatorFlags, checkResumeFlags, coordinatorOptions, givenFlags, parseFlags, reportError } from './options.js';
import { showProgress } from './progress.js';
import { joinCommand, shownPath } from '../join-command.js';
import { linkLatest, summaryLines } from './summary.js';
import { STOP_WAIT_MS } from '../trainer.js';

export interface CliRun {
  readonly program: Command;
  readonly argv: readonly string[];
  /** How a user asks for this command's help, e.g. "pnpm start -- --help". */
  readonly helpCommand: string;
  /** Local worker processes to spawn, from the parsed flags (0 for a bare coordinator). */
  readonly localWorkers: (flags: Record<string, unknown>) => number;
  /** Compute threads of each local worker (default 1). */
  readonly localThreads?: (flags: Record<string, unknown>) => number;
}

/** The lines that tell a waiting coordinator's user how workers join (the token never printed). */
function joinHint(coordinator: Coordinator, localWorkers: number): string {
  const { options } = coordinator;
  const waitingFor = options.minWorkers - localWorkers;
  if (waitingFor <= 0) return '';
  return (
    `${ERROR_PREFIX} waiting for ${waitingFor} more worker${waitingFor === 1 ? '' : 's'} (--min-workers ${options.minWorkers}); ` +
    // A loopback --host admits workers of this machine only.
    `${isLoopback(options.host) ? 'in another terminal' : 'on each machine'} run:\n` +
    `  ${joinCommand(options, coordinator.port)}\n`
  );
}

export async function runCoordinatorCli({ program, argv, helpCommand, localWorkers, localThreads }: CliRun): Promise<number> {
  const name = 'convoy';
  const flags = parseFlags(addCoordinatorFlags(program), argv, helpCommand);
  if (typeof flags === 'number') return flags;
  const given = givenFlags(program);
  let coordinator;
  let workerCount = 0;
  let chaos: ChaosPlan;
  try {
    workerCount = localWorkers(flags as unknown as Record<string, unknown>);
    chaos = parseChaosPlan(flags.chaos ?? '', workerCount);
    const options = coordinatorOptions(flags, workerCount, given);
    if (options.resume === true && options.outDir !== undefined && existsSync(join(options.outDir, CHECKPOINT_FILE))) {
      const checkpoint = readCheckpoint(join(options.outDir, CHECKPOINT_FILE));
      const settings = checkpoint.settings as Partial<TrainingOptions>;
      checkResumeFlags(options, given, settings, checkpoint.epoch);
      // NOTE: before startCoordinator, which reopens the run's history (cut back to the
      // checkpoint, a restart event appended): a finished run must be left as it is.
      const epochs = options.epochs ?? settings.epochs ?? 0;
      if (checkpoint.step >= plannedSteps({ ...settings, epochs })) {
        process.stdout.write(`${name}: the run in ${shownPath(options.outDir)} has already trained all ${epochs} epochs; give --epochs ${epochs + 1} or more to train further\n`);
        return 0;
      }
    }
    coordinator = await startCoordinator(options);
  } catch (error) {
    return reportError(error);
  }
  const { options, trainer } = coordinator;
  if (chaos.killCoordinatorAtStep > 0) {
    // NOTE: after step N's record is in history.jsonl, before any checkpoint of step N.
    coordinator.metrics.on('record', (record) => record.kind === 'step' && record.step === chaos.killCoordinatorAtStep && process.kill(process.pid, 'SIGKILL'));
  }
  const latest = linkLatest(coordinator.folder.dir);
  await mountDashboard(coordinator);
  const httpHost = options.host === '0.0.0.0' || options.host === '::' ? '127.0.0.1' : options.host;
  process.stdout.write(
    `${name}: ${options.resume ? `resuming at step ${trainer.completedSteps}` : 'training'} in ${shownPath(coordinator.folder.dir)}` +
      `${latest === null ? '' : ` (also ${shownPath(latest)})`}\n` +
      // The token itself is never printed: the user chose it (CONVOY_TOKEN) and knows it.
      `${name}: listening on ${coordinator.url} (dashboard: ${options.tlsCert === undefined ? 'http' : 'https'}://${httpHost}:${coordinator.port}/${options.token === undefined ? '' : '?token=<the token>'})\n` +
      joinHint(coordinator, workerCount),
  );
  const progress = showProgress(coordinator.metrics, {
    stepsPerEpoch: trainer.stepsPerEpoch,
    totalSteps: trainer.totalSteps,
    epochs: options.epochs,
    validationSize: options.validationSize,
    ...(process.stdout.isTTY === true ? { columns: process.stdout.columns || 80 } : {}),
  });
  let children: ChildProcess[] = [];
  if (workerCount > 0) {
    children = spawnLocalWorkers(workerCount, {
      url: `${options.tlsCert === undefined ? 'ws' : 'wss'}://127.0.0.1:${coordinator.port}`,
      ...(options.tlsCert === undefined ? {} : { tlsCa: options.tlsCert }),
      token: options.token,
      kernels: options.kernels,
      threads: localThreads?.(flags as unknown as Record<string, unknown>) ?? 1,
      dataDir: options.dataDir,
      chaos: chaos.workers,
      // A local worker's join and stop are the coordinator's own events, already shown; its
      // other lines say "worker N:" (the coordinator's number) once it joined.
      log: (workerName, line) => {
        if (/^worker \d+: (joined |stopped by the coordinator: )/.test(line)) return;
        // A worker's line may quote the coordinator's or another peer's text: escaped like events.
        progress.log(/^worker \d+:/.test(line) ? printable(line) : `[${workerName}] ${printable(line)}`);
      },
    });
  }
  const onSignal = interruptHandler({
    stop: () => {
      progress.log(`${name}: stopping after the current step (abandoned after ${STOP_WAIT_MS / 1000} s; Ctrl-C again to quit at once)`);
      coordinator.requestStop();
    },
    quit: () => {
      progress.stop();
      for (const child of children) child.kill('SIGKILL');
      process.exit(130);
    },
  });
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const started = performance.now();
  const imagesBefore = coordinator.metrics.stepImages;
  try {
    const outcome = await coordinator.train();
    const wallSeconds = (performance.now() - started) / 1000;
    progress.stop();
    await writeHistoryPlot(coordinator).catch((error: Error) => process.stderr.write(`${name}: history plot not written: ${error.message}\n`));
    if (outcome === 'finished') {
      const lines = summaryLines(name, {
        runDir: coordinator.folder.dir,
        steps: trainer.completedSteps,
        epochs: options.epochs,
        images: coordinator.metrics.stepImages - imagesBefore,
        wallSeconds,
        test: coordinator.metrics.test ?? null,
        modelFile: join(coordinator.folder.dir, MODEL_FILE),
      });
      process.stdout.write(`${lines.join('\n')}\n`);
    } else {
      process.stdout.write(`${name}: stopped at step ${trainer.completedSteps}; continue with --resume --out ${shownPath(coordinator.folder.dir)}\n`);
    }
    await coordinator.close(outcome === 'finished' ? 'training finished' : 'coordinator stopped');
    await waitForExit(children, 5_000);
    return 0;
  } catch (error) {
    progress.stop();
    await coordinator.close('coordinator failed').catch(() => undefined);
    for (const child of children) child.kill('SIGKILL');
    if (error instanceof RunFolderError) {
      // A full disk: one line, and where the run can continue from.
      const resume = coordinator.folder.hasCheckpoint() ? `; the last checkpoint stays: continue with --resume --out ${shownPath(coordinator.folder.dir)}` : '';
      process.stderr.write(`${ERROR_PREFIX} ${error.message}: stopped at step ${trainer.completedSteps}${resume}\n`);
      return 1;
    }
    return reportError(error);
  }
}

/** The steps a run with these settings trains in all (the trainer's totalSteps). */
function plannedSteps(settings: Partial<TrainingOptions> & { readonly epochs: number }): number {
  const stepsPerEpoch = Math.ceil((settings.trainSize ?? 0) / (settings.globalBatch ?? 1));
  const all = stepsPerEpoch * settings.epochs;
  return (settings.maxSteps ?? 0) > 0 ? Math.min(all, settings.maxSteps ?? 0) : all;
}
