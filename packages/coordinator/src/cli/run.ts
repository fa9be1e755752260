/**
 * What `pnpm start` and `pnpm coordinator` share: parse the flags, start the coordinator,
 * (for start) spawn the local workers, show progress, handle Ctrl-C, and exit:
 * 0 finished or stopped cleanly, 1 failure, 2 bad flags, 130 a second Ctrl-C.
 */
import type { ChildProcess } from 'node:child_process';
import type { Command } from 'commander';
import { parseChaosPlan, type ChaosPlan } from '../chaos.js';
import { startCoordinator } from '../coordinator.js';
import { spawnLocalWorkers, waitForExit } from '../local-workers.js';
import { mountDashboard, writeHistoryPlot } from './dashboard.js';
import { addCoordinatorFlags, coordinatorOptions, parseFlags, reportError } from './options.js';
import { showProgress } from './progress.js';

export interface CliRun {
  readonly program: Command;
  readonly argv: readonly string[];
  /** Local worker processes to spawn, from the parsed flags (0 for a bare coordinator). */
  readonly localWorkers: (flags: Record<string, unknown>) => number;
}

export async function runCoordinatorCli({ program, argv, localWorkers }: CliRun): Promise<number> {
  const name = program.name();
  const flags = parseFlags(addCoordinatorFlags(program), argv);
  if (typeof flags === 'number') return flags;
  let coordinator;
  let workerCount = 0;
  let chaos: ChaosPlan;
  try {
    workerCount = localWorkers(flags as unknown as Record<string, unknown>);
    chaos = parseChaosPlan(flags.chaos ?? '', workerCount);
    coordinator = await startCoordinator(coordinatorOptions(flags, workerCount));
  } catch (error) {
    return reportError(name, error);
  }
  const { options, trainer } = coordinator;
  if (chaos.killCoordinatorAtStep > 0) {
    // NOTE: after step N's record is in history.jsonl, before any checkpoint of step N.
    coordinator.metrics.on('record', (record) => record.kind === 'step' && record.step === chaos.killCoordinatorAtStep && process.kill(process.pid, 'SIGKILL'));
  }
  await mountDashboard(coordinator);
  const httpHost = options.host === '0.0.0.0' || options.host === '::' ? '127.0.0.1' : options.host;
  process.stdout.write(
    `${name}: ${options.resume ? `resuming at step ${trainer.completedSteps}` : 'training'} in ${coordinator.folder.dir}\n` +
      `${name}: listening on ${coordinator.url} (dashboard: ${options.tlsCert === undefined ? 'http' : 'https'}://${httpHost}:${coordinator.port}/)\n` +
      (workerCount === 0 ? `${name}: workers join with: pnpm worker -- --connect ws://HOST:${coordinator.port}${options.token ? ' --token ...' : ''}\n` : ''),
  );
  const progress = showProgress(coordinator.metrics, trainer.totalSteps, options.epochs, trainer.completedSteps);
  let children: ChildProcess[] = [];
  if (workerCount > 0) {
    children = spawnLocalWorkers(workerCount, {
      url: `${options.tlsCert === undefined ? 'ws' : 'wss'}://127.0.0.1:${coordinator.port}`,
      ...(options.tlsCert === undefined ? {} : { tlsCa: options.tlsCert }),
      token: options.token,
      kernels: options.kernels,
      dataDir: options.dataDir,
      chaos: chaos.workers,
      log: (index, line) => progress.log(`[local worker ${index}] ${line}`),
    });
  }
  let interrupts = 0;
  const onSignal = () => {
    interrupts++;
    if (interrupts === 1) {
      progress.log(`${name}: stopping after the current step (Ctrl-C again to quit at once)`);
      coordinator.requestStop();
    } else {
      for (const child of children) child.kill('SIGKILL');
      process.exit(130);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const outcome = await coordinator.train();
    progress.stop();
    await writeHistoryPlot(coordinator).catch((error: Error) => process.stderr.write(`${name}: history plot not written: ${error.message}\n`));
    process.stdout.write(
      outcome === 'finished'
        ? `${name}: finished after ${trainer.completedSteps} steps; run folder ${coordinator.folder.dir}\n`
        : `${name}: stopped at step ${trainer.completedSteps}; continue with --resume --out ${coordinator.folder.dir}\n`,
    );
    await coordinator.close(outcome === 'finished' ? 'training finished' : 'coordinator stopped');
    await waitForExit(children, 5_000);
    return 0;
  } catch (error) {
    progress.stop();
    await coordinator.close('coordinator failed').catch(() => undefined);
    for (const child of children) child.kill('SIGKILL');
    return reportError(name, error);
  }
}
