/**
 * Puts a coordinator together: options, run folder (fresh or resumed from its checkpoint),
 * dataset, model and optimizer, metrics, the transport, the worker table with its
 * scheduler, and the trainer.
 *
 *   const coordinator = await startCoordinator({ port: 0, epochs: 1 });
 *   coordinator.transport.httpHandler = dashboardHandler;   // packages/dashboard plugs in here
 *   coordinator.metrics.on('record', (record) => ...);       // live metrics in process
 *   const outcome = await coordinator.train();               // 'finished' | 'stopped'
 *   await coordinator.close();
 */
import { rmSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import {
  createModel,
  datasetId,
  encodeMessage,
  type Dataset,
  type MetricsRecord,
  type Model,
} from '@convoy/core';
import { datasetHash, loadMnist, selectNodeKernels, type Checkpoint } from '@convoy/core/node';
import { CoordinatorError, resolveOptions, type CoordinatorOptions, type TrainingOptions } from './defaults.js';
import { MetricsHub } from './metrics.js';
import { withPixels, type RunPosition } from './persistence.js';
import { RunFolder } from './run-folder.js';
import { StepLinks } from './step-links.js';
import { StepTimer, type StepTiming } from './step-timing.js';
import { StepTimeline } from './timing.js';
import { TraceFile } from './trace-file.js';
import { joinCommand } from './join-command.js';
import { coordinatorReplica } from './replica-updates.js';
import { Trainer, type TrainOutcome } from './trainer.js';
import { Transport } from './transport.js';
import { WorkerTable } from './workers.js';

export interface Coordinator {
  readonly options: CoordinatorOptions;
  readonly transport: Transport;
  readonly workers: WorkerTable;
  readonly metrics: MetricsHub;
  readonly trainer: Trainer;
  readonly model: Model;
  readonly folder: RunFolder;
  readonly port: number;
  /** ws://host:port for workers, http://host:port for the dashboard. */
  readonly url: string;
  /** Calls `listener` with each step's time split from now on (bench/scale.ts, load tests). */
  onStepTiming(listener: (timing: StepTiming) => void): void;
  /** Trains to the end; on a failure (e.g. BAD_ANSWERS) publishes `end` with reason 'failed' and rejects. */
  train(): Promise<TrainOutcome>;
  /** Ctrl-C: the current step finishes, a checkpoint is written, train() resolves 'stopped'. */
  requestStop(): void;
  close(reason?: string): Promise<void>;
}

export async function startCoordinator(partial: Partial<CoordinatorOptions>): Promise<Coordinator> {
  const options = resolveOptions(partial);
  const folder = new RunFolder(resolve(options.outDir));
  if (options.resume && !folder.hasCheckpoint()) throw new CoordinatorError('NO_CHECKPOINT', `--resume: no checkpoint in ${folder.dir}`);
  // NOTE: made (and proved writable) first, so a bad --out fails at once; a start that fails
  // later removes what it made, so a failed start leaves no folder behind.
  const created = folder.create();
  folder.removeStaleTemporaries();
  const started: { transport?: Transport } = {};
  try {
    return await assemble(partial, options, folder, started);
  } catch (error) {
    await started.transport?.close('the coordinator could not start').catch(() => undefined);
    if (created !== undefined) rmSync(created, { recursive: true, force: true });
    throw error;
  }
}

async function assemble(partial: Partial<CoordinatorOptions>, resolved: CoordinatorOptions, folder: RunFolder, started: { transport?: Transport }): Promise<Coordinator> {
  let options = resolved;
  let checkpoint: Checkpoint | null = null;
  if (options.resume) {
    checkpoint = folder.readCheckpoint();
    // The run's own settings win: a resumed run must be the same run. Except epochs, when
    // given: more epochs continue training (Keras's initial_epoch).
    const epochs = partial.epochs === undefined ? {} : { epochs: partial.epochs };
    // The codec too, when given: a run may move to a slower link (a checkpoint without one is fp32).
    const saved = checkpoint.settings as Partial<TrainingOptions>;
    const wire = { wire: partial.wire ?? saved.wire ?? 'fp32', overlap: partial.overlap ?? saved.overlap ?? false };
    // A checkpoint from before --lr-schedule ran the step schedule (whatever today's default is).
    const schedule = { lrSchedule: (checkpoint.settings as Partial<TrainingOptions>).lrSchedule ?? 'step' };
    options = resolveOptions({ ...options, ...schedule, ...(checkpoint.settings as Partial<TrainingOptions>), ...epochs, ...wire });
  }

  const { train, test } = loadMnist(options.dataDir);
  const id = datasetId(datasetHash(train), datasetHash(test));
  if (checkpoint !== null && checkpoint.datasetHash !== id) {
    throw new CoordinatorError('BAD_RESUME', `--resume: the checkpoint was made with dataset ${checkpoint.datasetHash}, this data is ${id}`);
  }
  const kernels = selectNodeKernels(options.kernels);
  const replica = coordinatorReplica(options, kernels);
  const model = createModel(options.spec, { seed: options.seed, kernels, ...(replica === null ? {} : { params: replica.arrays.params }) });
  checkModelFitsData(model, train);
  const optimizer = Trainer.createOptimizer(options, model, replica?.state);
  let position: RunPosition | null = null;
  const metrics = new MetricsHub();
  if (checkpoint !== null) {
    if (checkpoint.parameters.length !== model.paramCount) {
      throw new CoordinatorError('BAD_RESUME', `--resume: the checkpoint holds ${checkpoint.parameters.length} parameters, the model has ${model.paramCount}`);
    }
    model.params.set(checkpoint.parameters);
    optimizer.restore(checkpoint.optimizer.iterations, checkpoint.optimizer.state);
    position = { epoch: checkpoint.epoch, batchInEpoch: checkpoint.batchInEpoch, step: checkpoint.step, rngState: checkpoint.rngState };
    // A checkpoint of an older Convoy carries the history itself; one of now, its length in history.jsonl.
    const history = checkpoint.history.length > 0 ? checkpoint.history : folder.cutHistory(checkpoint.historyBytes);
    metrics.restore((history as MetricsRecord[]).map((record) => withPixels(record, train)));
  }

  let datasetFrame: Uint8Array | null = null;
  // NOTE: the three are wired in a circle (the table sends through the transport, the
  // transport hands frames to the table, events carry the trainer's step); the closures
  // below are only called once listen() has opened the port, when all three exist.
  let trainer: Trainer;
  let transport: Transport;
  const workers = new WorkerTable({
    timing: options,
    send: (connection, message) => transport.send(connection, message),
    publish: (record) => metrics.publish(record),
    viewer: (socket) => metrics.addDashboard(socket),
    currentStep: () => trainer.currentStep,
  });
  transport = new Transport(
    options,
    {
      spec: options.spec,
      paramCount: model.paramCount,
      datasetId: id,
      datasetFrame: () =>
        (datasetFrame ??= encodeMessage({
          type: 'dataset',
          hash: id,
          height: train.height,
          width: train.width,
          trainPixels: train.pixels,
          trainLabels: train.labels,
          testPixels: test.pixels,
          testLabels: test.labels,
        })),
      maxSliceLength: Math.max(options.globalBatch, options.evaluateChunk),
      wire: options.wire,
      optimizer: optimizer.config,
      overlap: options.overlap,
    },
    workers,
  );
  started.transport = transport;
  const elapsedBefore = Number((checkpoint?.settings as { elapsedSeconds?: number } | undefined)?.elapsedSeconds ?? 0);
  const links = new StepLinks(() => workers.workers());
  trainer = new Trainer({ options, model, optimizer, train, test, datasetId: id, scheduler: workers.scheduler, workers, metrics, store: folder, position, elapsedBefore, links, replica: replica?.arrays ?? null });
  const port = await transport.listen();
  if (checkpoint === null || checkpoint.history.length > 0) folder.resetHistory((checkpoint?.history ?? []) as MetricsRecord[]);
  // A failed write (a full disk) ends the run at the next step boundary, with the last good checkpoint.
  folder.onFailure = (error) => trainer.fail(error);
  // Timing records go to trace.jsonl, not history.jsonl (trace-file.ts says why).
  const trace = new TraceFile(folder.dir, checkpoint === null, (line) => process.stderr.write(`${line}\n`));
  metrics.on('record', (record) => {
    if (record.kind === 'timing') trace.append(record);
    else if (record.kind !== 'workers') folder.appendHistory(record);
  });
  trainer.observe(new StepTimeline((record) => metrics.publish(record)));
  workers.start();
  const validationSize = options.validationSize;
  metrics.publish({
    kind: 'run',
    runId: `${basename(folder.dir)}-${Date.now()}`,
    startTime: Date.now(),
    spec: options.spec,
    paramCount: model.paramCount,
    optimizer: { ...optimizer.config },
    globalBatch: options.globalBatch,
    epochs: options.epochs,
    stepsPerEpoch: trainer.stepsPerEpoch,
    totalSteps: trainer.totalSteps,
    seed: options.seed,
    trainSize: options.trainSize,
    validationSize,
    testSize: Math.min(options.testSize, test.count),
    kernels: kernels.name,
    localWorkers: options.localWorkers,
    resumedFromStep: checkpoint?.step ?? 0,
    outDir: folder.dir,
    minWorkers: Math.max(1, options.minWorkers),
    joinCommand: joinCommand(options, port),
    wire: options.wire,
    ...(options.overlap ? { overlap: true, overlapAfter: trainer.overlapAfter } : {}),
    ...(options.wire === 'topk' ? { topkWarmupSteps: options.topkWarmupSteps ?? trainer.stepsPerEpoch } : {}),
  });
  if (checkpoint !== null) {
    metrics.publish({ kind: 'event', event: 'coordinator-restart', step: checkpoint.step, workerId: null, detail: `resumed from step ${checkpoint.step}`, time: Date.now() });
  }
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    options,
    transport,
    workers,
    metrics,
    trainer,
    model,
    folder,
    port,
    url: `${options.tlsCert === undefined ? 'ws' : 'wss'}://${host}:${port}`,
    onStepTiming: (listener) => {
      const timer = new StepTimer(() => transport.counters());
      timer.on('timing', listener);
      trainer.observe(timer);
    },
    train: () => trainer.run(),
    requestStop: () => trainer.requestStop(),
    close: async (reason = 'the run is over') => {
      workers.close();
      await transport.close(reason);
    },
  };
}

/**
 * A model that cannot take the dataset's images or name its labels never trains: every
 * worker would refuse it (BAD_MODEL / BAD_INPUT) and the run would wait forever. Refused
 * here, before anything is opened, with the shapes that disagree.
 */
export function checkModelFitsData(model: Model, data: Dataset): void {
  const [channels, height, width] = model.inputShape;
  if (channels !== data.channels || height !== data.height || width !== data.width) {
    throw new CoordinatorError(
      'BAD_OPTION',
      `--model: the input is [${channels},${height},${width}], the dataset's images are [${data.channels},${data.height},${data.width}] (channels, height, width)`,
    );
  }
  if (model.classes !== data.classes) {
    throw new CoordinatorError('BAD_OPTION', `--model: the softmax has ${model.classes} units, the dataset has ${data.classes} classes`);
  }
}
